//! Functions #[reel::test] cannot run: it calls the body with nothing, many times, on
//! reel's own threads.

#[reel::test]
fn takes_an_argument(threads: usize) {}

#[reel::test]
async fn is_async() {}

#[reel::test]
fn returns_a_result() -> Result<(), String> {
    Ok(())
}

#[reel::test]
fn is_generic<T>() {}

fn main() {}
