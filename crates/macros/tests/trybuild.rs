//! `#[reel::test]` through the compiler: the cases under `ui/` that must compile (and whose
//! tests must pass) and those that must not, each with the error it gives.

#[test]
fn reel_test_attribute() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass_*.rs");
    cases.compile_fail("tests/ui/fail_*.rs");
}
