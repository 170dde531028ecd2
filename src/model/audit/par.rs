//! Splitting a large page of events across cores (hashing and parsing are CPU-bound).

/// `f` over `items`, split into one chunk per core when there are enough items to be
/// worth a thread each; results in order. A panic in `f` is a bug and propagates.
pub fn chunks<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    const WORTH_A_THREAD: usize = 2048;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < WORTH_A_THREAD || threads < 2 {
        return f(items);
    }
    let size = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(size).map(|c| s.spawn(move || f(c))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
