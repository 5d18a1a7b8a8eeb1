//! A value kept beside a [`crate::table::Table`] until the table changes, so a question
//! many commands ask of an unchanged table is answered once per version of it.

/// A value computed from a table's contents, kept until the table changes: the simulated
/// zfs's mount table, which every exec hook and jexec consults, is computed once per version
/// of the datasets instead of once per call. Not part of the state: a copy starts empty and
/// every two compare equal.
#[derive(Debug, Default)]
pub struct Memo<T>(std::sync::Mutex<Option<(u64, std::sync::Arc<T>)>>);

impl<T> Clone for Memo<T> {
    fn clone(&self) -> Self {
        Memo(std::sync::Mutex::new(None))
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Memo<T> {}

impl<T> Memo<T> {
    /// The value kept for `version`, or `f`'s, kept for it.
    pub fn get_or(&self, version: u64, f: impl FnOnce() -> T) -> std::sync::Arc<T> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*m {
            Some((v, t)) if *v == version => t.clone(),
            _ => {
                let t = std::sync::Arc::new(f());
                *m = Some((version, t.clone()));
                t
            }
        }
    }
}
