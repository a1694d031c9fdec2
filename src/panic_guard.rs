//! Panics that orch expects and recovers from, told apart from real crashes.
//!
//! A few places deliberately catch a panic and carry on (a terminal parser
//! bug must not stop an agent's output from being drained). The process-wide
//! panic hook must not treat those as crashes: printing the message over the
//! control room or restoring the terminal to cooked mode while the control
//! room keeps drawing leaves the user's screen garbled. Code that recovers
//! runs inside [`catch`]; the hook asks [`recovering`] and, if so, only logs.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

thread_local! {
    /// How many [`catch`] calls are active on this thread.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Run `f`, turning a panic inside it into `Err` (as `catch_unwind`), with
/// the panic hook told that this one is recoverable: it goes to `tracing`,
/// never to the screen.
pub fn catch<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    result
}

/// Is the current thread inside [`catch`]?
pub fn recovering() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

static ON_CRASH: OnceLock<fn()> = OnceLock::new();

/// Install the process-wide hook (once; later calls do nothing):
/// recoverable panics are logged with their location and message and
/// nothing else happens; any other panic first runs the function given to
/// [`on_crash`] (the control room restores the terminal there), then the
/// hook that was installed before, which prints the message.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if recovering() {
                tracing::error!("recovered from a panic: {info}");
                return;
            }
            // A server's stderr goes nowhere: its log must say why it died.
            tracing::error!("panic: {info}");
            if let Some(f) = ON_CRASH.get() {
                f();
            }
            previous(info);
        }));
    });
}

/// What a real crash must do before its message is printed. The first
/// registration wins (there is one terminal to give back).
pub fn on_crash(f: fn()) {
    let _ = ON_CRASH.set(f);
    install();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_reports_the_panic_and_marks_the_thread_only_inside() {
        assert!(!recovering());
        let seen_inside = catch(recovering).expect("no panic");
        assert!(seen_inside);
        let result = catch(|| -> u32 { panic!("parser bug") });
        assert!(result.is_err());
        assert!(!recovering(), "depth is restored after a panic");
    }

    #[test]
    fn nested_catches_unwind_the_depth() {
        let inner = catch(|| {
            let _ = catch(|| panic!("inner"));
            recovering()
        });
        assert_eq!(inner.ok(), Some(true));
        assert!(!recovering());
    }
}
