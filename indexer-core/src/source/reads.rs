//! Which top-level attributes of an item an entity's factory reads, recorded per thread while
//! [`recording_reads`] runs.

thread_local! {
    /// The top-level attributes read while [`recording_reads`] runs on this thread.
    static READS: std::cell::RefCell<Option<std::collections::BTreeSet<String>>> =
        const { std::cell::RefCell::new(None) };
}

/// Notes that the attribute `name` was read, if reads are being recorded on this thread.
pub(super) fn note_read(name: &str) {
    READS.with(|reads| {
        if let Some(reads) = reads.borrow_mut().as_mut()
            && !reads.contains(name)
        {
            reads.insert(name.to_owned());
        }
    });
}

/// Runs `read` (an entity's factory), and returns with its result the names of the item's
/// top-level attributes it looked at: what the factory maps, declared by the factory itself.
pub fn recording_reads<T>(read: impl FnOnce() -> T) -> (T, std::collections::BTreeSet<String>) {
    let before = READS.with(|reads| reads.borrow_mut().replace(Default::default()));
    let result = read();
    let seen = READS.with(|reads| std::mem::replace(&mut *reads.borrow_mut(), before));
    (result, seen.unwrap_or_default())
}
