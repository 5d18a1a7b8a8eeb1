//! Address arithmetic shared by the simulated ifconfig(8) and jail(8): netmask widths and
//! address syntax, in the forms those tools accept. A module of its own so that neither tool
//! model has to reach into the other for it.

/// An IPv4 prefix width as ifconfig(8) reads it: `invalid` unless it starts with a digit
/// and is all digits, `too large` above 32.
pub fn v4_width(s: &str) -> Result<u32, &'static str> {
    if !s.starts_with(|c: char| c.is_ascii_digit()) || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err("invalid");
    }
    match s.parse::<u64>() {
        Ok(n) if n <= 32 => Ok(n as u32),
        _ => Err("too large"),
    }
}

/// A prefix width of an IPv6 (`v6`) or IPv4 address, at most 128 or 32.
pub fn parse_len(s: &str, v6: bool) -> Option<u32> {
    let n: u32 = s.parse().ok()?;
    (n <= if v6 { 128 } else { 32 }).then_some(n)
}

/// Prefix length of a netmask given as dotted quad or `0x` hex.
pub fn mask_len(m: &str) -> Option<u32> {
    let v = if let Some(h) = m.strip_prefix("0x") {
        u32::from_str_radix(h, 16).ok()?
    } else {
        u32::from(m.parse::<std::net::Ipv4Addr>().ok()?)
    };
    let n = v.leading_ones();
    (v.checked_shl(n).unwrap_or(0) == 0).then_some(n)
}

/// Whether `ip` is an address of the family, as inet_pton(3) reads it.
pub fn is_addr(ip: &str, v6: bool) -> bool {
    if v6 {
        ip.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        ip.parse::<std::net::Ipv4Addr>().is_ok()
    }
}
