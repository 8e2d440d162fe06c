//! The process-wide "stopping" flag: set once when the server is asked to stop (SIGTERM,
//! Ctrl-C), read by long computations that run off the async runtime (value-model fits,
//! trainings), which a graceful shutdown would otherwise wait for: the runtime cannot end
//! while a blocking task runs, so a fit must notice and give up by itself.

use std::sync::atomic::{AtomicBool, Ordering};

static STOPPING: AtomicBool = AtomicBool::new(false);

/// Marks the process as stopping; long computations give up at their next check.
pub fn request() {
    STOPPING.store(true, Ordering::SeqCst);
}

/// Whether the process is stopping.
pub fn requested() -> bool {
    STOPPING.load(Ordering::SeqCst)
}
