//! A cause that a `Clone + Eq` error can hold. [`super::PlanError`] is both (refusals are
//! compared in tests and copied into reports), but what it wraps — a provisioning source
//! file that cannot be read, with its `io::Error` — is neither. Holding it shared keeps the
//! cause whole: its own help and its source chain reach the report instead of being flattened
//! into text. Two are equal when they are the same error or say the same thing.

use std::fmt;
use std::sync::Arc;

/// An error held behind an `Arc`; derefs to it, so `#[diagnostic(forward(..))]` reaches its
/// help.
#[derive(Debug)]
pub struct Shared<E>(Arc<E>);

impl<E> Shared<E> {
    pub fn new(e: E) -> Self {
        Shared(Arc::new(e))
    }
}

impl<E> Clone for Shared<E> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<E> std::ops::Deref for Shared<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.0
    }
}

impl<E: fmt::Display> fmt::Display for Shared<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::error::Error> std::error::Error for Shared<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl<E: fmt::Display> PartialEq for Shared<E> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl<E: fmt::Display> Eq for Shared<E> {}
