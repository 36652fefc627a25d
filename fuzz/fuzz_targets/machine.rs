//! The session machine in the simulated world of the property-based simulation
//! (`core/tests/sim`): the input decodes into hostile bodies, a setup and up to 64 actions, which
//! run with every invariant of `core/tests/sim/mod.rs` checked after every input. A violation
//! panics with its message, the setup and the actions, which libFuzzer records as a crash. To see
//! every input and output of a crash: `SIM_TRACE=1 ./machine <crash file>`.
//!
//! Input layout, read with `arbitrary::Unstructured`: up to four bodies (arbitrary bytes, which
//! hostile answers `Hostile::Bytes` pick from, made meaningless as the module says), then the
//! numbers `sim::Bits` decodes a setup and the actions from, one number per action.
#![no_main]

#[path = "../../core/tests/sim/mod.rs"]
mod sim;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

/// The most actions a case has.
const MAX_ACTIONS: u64 = 64;
/// The most bodies an input supplies.
const MAX_BODIES: usize = 4;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let count = u.int_in_range(0..=MAX_BODIES).unwrap_or(0);
    let bodies: Vec<Vec<u8>> = (0..count).map(|_| u.arbitrary::<&[u8]>().unwrap_or_default().to_vec()).collect();
    let (setup, actions) = sim::Bits::new(|| u.arbitrary().unwrap_or(0)).case(MAX_ACTIONS);
    let mut world = sim::Sim::new(&setup);
    world.bodies = bodies;
    if let Err(message) = sim::run_case_with(world, &setup, &actions) {
        panic!("{message}\nsetup: {setup:?}\nactions: {actions:?}");
    }
});
