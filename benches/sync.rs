//! Cost and speed of whole syncs against the simulators, next to the protocol's lower bound and
//! to a full re-list baseline (delta disabled, the way Bitwarden Directory Connector works).
//!
//!   cargo bench --bench sync                      # full: 10,000 and 100,000 users, 1,000 connectors
//!   cargo bench --bench sync -- --quick           # small sizes, for CI (the default in debug builds)
//!   cargo bench --bench sync -- --graph-latency-ms 20 --pb-latency-ms 10 --out DIR
//!   cargo bench --bench sync -- --users 100000 --no-fleet   # one size, no fleet: to iterate
//!   cargo bench --bench sync -- --no-scim        # without the SCIM rows (scim2-server)
//!
//! Writes RESULTS.md and results.json to bench-results/ (full), target/bench-quick/ (quick) or
//! target/bench-partial/ (a run with --users or --no-fleet).
//! The simulators run in this process: wall time and request counts are the connector's; RSS and
//! CPU include the simulators (so they are upper bounds), and the operator's own memory is
//! measured exactly with a counting allocator (heap released when its per-connector state drops).

#[path = "sync_support/fleet.rs"]
mod fleet;
#[path = "sync_support/machine.rs"]
mod machine;
#[path = "sync_support/report.rs"]
mod report;
#[path = "sync_support/scim.rs"]
mod scim;
#[path = "sync_support/world.rs"]
mod world;

use std::path::PathBuf;
use std::time::Duration;

use machine::Machine;
use report::{Results, Row};
use world::{Latency, World};

#[global_allocator]
static ALLOCATOR: pbconnector_testkit::alloc::Counting = pbconnector_testkit::alloc::Counting;

struct Args {
    quick: bool,
    latency: Latency,
    out: PathBuf,
    /// Connector sizes to run instead of the mode's (`--users 100000,10000`).
    users: Option<Vec<usize>>,
    /// Leave the 1,000-connector fleet out (`--no-fleet`), to iterate on one connector.
    fleet: bool,
    /// The SCIM rows, against a local scim2-server (`--no-scim` leaves them out).
    scim: bool,
}

fn args() -> Args {
    let mut quick = cfg!(debug_assertions);
    let mut latency = Latency {
        graph: Duration::from_millis(20),
        password_boss: Duration::from_millis(10),
    };
    let mut out = None;
    let mut users = None;
    let mut fleet = true;
    let mut scim = true;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut ms = |what: &str| {
            let v = it.next().unwrap_or_else(|| panic!("{what} needs a value"));
            Duration::from_millis(v.parse().unwrap_or_else(|_| panic!("{what}: not a number")))
        };
        match arg.as_str() {
            "--quick" => quick = true,
            "--graph-latency-ms" => latency.graph = ms("--graph-latency-ms"),
            "--pb-latency-ms" => latency.password_boss = ms("--pb-latency-ms"),
            "--out" => out = it.next().map(PathBuf::from),
            "--users" => {
                let list = it.next().expect("--users needs a value");
                users = Some(
                    list.split(',')
                        .map(|n| n.trim().parse().expect("--users: comma-separated numbers"))
                        .collect(),
                );
            }
            "--no-fleet" => fleet = false,
            "--no-scim" => scim = false,
            // `cargo bench` passes --bench; anything else is a mistake worth saying.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let partial = users.is_some() || !fleet;
    let out = out.unwrap_or_else(|| {
        if partial {
            root.join("target/bench-partial")
        } else if quick {
            root.join("target/bench-quick")
        } else {
            root.join("bench-results")
        }
    });
    Args {
        quick,
        latency,
        out,
        users,
        fleet,
        scim,
    }
}

fn main() {
    let args = args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (mut sizes, fleet_shape) = if args.quick {
        (vec![1_000], fleet::Shape::quick())
    } else {
        (vec![10_000, 100_000], fleet::Shape::full())
    };
    if let Some(users) = args.users.clone() {
        sizes = users;
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut memory = Vec::new();
    for n in sizes {
        eprintln!("== {n} users, 20 mirrored groups");
        let (r, per_user) = runtime.block_on(World::scenarios(n, 20, args.latency));
        rows.extend(r);
        memory.push((n, per_user));
    }
    if args.scim {
        // scim2-server is a Python process validating every resource: 1,000 users keep the run
        // short; the bounds are per request, so the ratios hold at any size.
        let n = 1_000;
        eprintln!("== SCIM: {n} users, 20 mirrored groups, into a local scim2-server");
        rows.extend(runtime.block_on(scim::scenarios(n, 20, args.latency)));
    }
    let fleet = args.fleet.then(|| {
        eprintln!("== fleet: {}", fleet_shape.describe());
        runtime.block_on(fleet::run(&fleet_shape, args.latency))
    });
    let results = Results {
        machine: Machine::read(),
        quick: args.quick,
        latency: args.latency,
        rows,
        memory_per_user: memory,
        fleet,
    };
    let table = results.markdown();
    println!("{table}");
    results.write(&args.out).expect("results written");
    assert!(
        std::fs::read_to_string(args.out.join("RESULTS.md"))
            .is_ok_and(|t| t.contains("| scenario")),
        "the results table was written"
    );
    eprintln!("written to {}", args.out.display());
}
