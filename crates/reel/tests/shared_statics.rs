//! A `static` reel primitive shared by two runtimes: fine one after the other, a clear error
//! when both use it at once (it would otherwise lose mutual exclusion silently).

use std::sync::Barrier as StdBarrier;

use reel::sync::Mutex;

static SHARED: Mutex<u64> = Mutex::new(0);
static SEQUENTIAL: Mutex<u64> = Mutex::new(0);

#[test]
fn two_runtimes_using_one_static_at_once_get_a_clear_error() {
    let both_inside = StdBarrier::new(2);
    let done = StdBarrier::new(2);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            reel::run(|| {
                let _guard = SHARED.lock().unwrap();
                both_inside.wait();
                done.wait();
            });
        });
        let second = scope.spawn(|| {
            reel::Runtime::new().run(|| {
                both_inside.wait();
                let attempt = std::panic::catch_unwind(|| SHARED.lock().map(|_| ()));
                done.wait();
                attempt.map_err(|payload| match payload.downcast::<String>() {
                    Ok(message) => *message,
                    Err(_) => "a panic without a message".to_owned(),
                })
            })
        });
        let message = second
            .join()
            .unwrap()
            .expect_err("the second runtime must be refused");
        assert!(
            message.contains("in use by another reel execution"),
            "{message}"
        );
        assert!(message.contains("--test-threads=1"), "{message}");
    });
}

#[test]
fn runtimes_may_use_one_static_one_after_the_other() {
    for _ in 0..3 {
        std::thread::spawn(|| {
            reel::check_random(
                || {
                    *SEQUENTIAL.lock().unwrap() += 1;
                },
                20,
            );
        })
        .join()
        .unwrap();
    }
    let total = reel::run(|| *SEQUENTIAL.lock().unwrap());
    assert_eq!(total, 60);
}
