//! One thread of its own, at a lower CPU priority, for the CPU work of keeping portraits
//! fresh (opening and decoding a customer's events, building the portrait).
//!
//! The outbox consumer rebuilds each customer it touches from all their data: under a
//! steady stream that is most of a merchant's customers per poll, hundreds of thousands of
//! events opened and decoded. On the async workers that work competed with every call the
//! process serves: with 1,000 events/s ingested, Recommend's p99 was 44 ms with the consumer
//! running and 5.6 ms without it (BENCHMARKS.md, mixed load). Here the operating system
//! gives the calls' threads the CPU first and the consumer what is left (nice
//! [`NICE`]), so freshness, not latency, gives way when the machine is busy.

use std::sync::LazyLock;
use std::sync::mpsc;

/// The thread's nice value: CFS gives a nice-10 thread about a tenth of the CPU weight of a
/// nice-0 one when both want it, and all of an idle CPU.
pub const NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

static WORKER: LazyLock<Option<mpsc::Sender<Job>>> = LazyLock::new(start_worker);

fn start_worker() -> Option<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("profile-build".to_owned())
        .spawn(move || {
            lower_priority();
            for job in rx {
                job();
            }
        })
        .inspect_err(|e| tracing::warn!(error = %e, "no background CPU thread; building inline"))
        .ok()?;
    Some(tx)
}

/// Lowers the calling thread's priority (on Linux `setpriority` of a thread id applies to
/// that thread only). Lowering needs no privilege; a failure only costs latency.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICE) {
        tracing::warn!(error = %e, "could not lower the priority of the profile build thread");
    }
}

/// Runs `work` on the low-priority thread and waits for it without blocking the runtime;
/// inline when the thread is not there. A panic in `work` is resumed here, as if `work`
/// had run inline.
pub async fn run<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)));
    });
    let Some(worker) = WORKER.as_ref() else {
        return inline(job, rx);
    };
    if let Err(mpsc::SendError(job)) = worker.send(job) {
        return inline(job, rx);
    }
    match rx.await {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        // The job was dropped unrun: only if the thread died, which catch_unwind prevents.
        Err(_) => panic!("the profile build thread is gone"),
    }
}

type Outcome<R> = std::thread::Result<R>;

fn inline<R>(job: Job, mut rx: tokio::sync::oneshot::Receiver<Outcome<R>>) -> R {
    job();
    match rx.try_recv() {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => unreachable!("an inline job has sent its outcome"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_low_priority_thread_and_panics_come_back() {
        let name = run(|| std::thread::current().name().map(str::to_owned)).await;
        assert_eq!(name.as_deref(), Some("profile-build"));
        #[cfg(target_os = "linux")]
        {
            let nice =
                run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid()))).await;
            assert_eq!(nice.ok(), Some(NICE));
        }
        let caught = tokio::spawn(run(|| -> u8 { panic!("boom") })).await;
        assert!(caught.is_err_and(|e| e.is_panic()));
        assert_eq!(run(|| 41 + 1).await, 42, "the thread survives a panic");
    }
}
