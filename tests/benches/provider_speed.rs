//! `make bench`, second step: the provider's speed on a slow network.
//!
//! ```text
//! cargo bench --workspace --profile dev --bench provider_speed -- [--repeats N] [--delay-ms MS]
//!     [--provider PATH] [--check] [--log]
//! ```
//!
//! (`make bench-provider` passes `--provider` the release build; without it the tests' debug
//! build is measured. A relative `--provider` is taken from `tests/`, where cargo runs benches.)
//!
//! A proxy on 127.0.0.1 (`testkit::http::CountingProxy::start_with_delay`) holds every AWS call
//! for `--delay-ms` (100) before handing it to the emulator, as a far-away region would, and
//! logs each call (operation, arrival, answer). Through it, on one emulator:
//!
//! DMS and Firehose resources settle at once on this emulator (`EMULATOR_DMS_DELAY_SECONDS`,
//! `EMULATOR_FIREHOSE_DELAY_SECONDS` and `KINESISANALYTICS_V1_TRANSITION_SECONDS` are 0 unless
//! set), and its realism layer is off (`EMULATOR_REALISM=0` unless set): their settling time is
//! AWS's, not the provider's; a waiter's polls still count.
//!
//! 1. a warm-up round of everything below (not counted: the emulator loads each service on
//!    first use, the page cache fills);
//! 2. `--repeats` (3, or `PROVIDER_BENCH_REPEATS`) times, each command of the no-op
//!    configuration (the provider block and a `terraform_data` resource: Terraform's own time)
//!    right before the same command of `examples/complete/`: `apply` (create),
//!    `plan -refresh=true` (refresh), `plan -refresh=false` (plan only: no AWS read, so its
//!    rounds are Terraform's and the provider's own time beyond the no-op's), `destroy`.
//!
//! Before each no-op, the same command of `examples/complete/` with `count = 0` on its pipeline
//! (no outputs): Terraform starts and configures the provider for its walks there as for the
//! example, and the no-op does not. Rounds beyond that run are shown too, for information.
//!
//! rounds = (wall − the no-op's wall, same repeat) / delay: the calls the command waited for one
//! after another. Beside them: the calls made, and the longest chain of strictly sequential
//! calls in the proxy's log (each one arriving after the previous one was answered), which is
//! the critical path the run actually took. Targets: refresh ≤ 3 rounds; create ≤ its critical
//! path + 20 %. Verdicts use the median over the repeats. For create and refresh, the last
//! repeat's rounds are split into the chain's calls, their time beyond the delay (the
//! emulator's), the idle time between them and the time before and after the chain.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use testkit::http::{Call, CountingProxy};
use testkit::terraform::mirror_of;
use testkit::{repo_root, Emulator, Terraform};

struct Options {
    repeats: usize,
    delay: Duration,
    /// The provider executable to measure (`make bench`: the release build); by default the
    /// tests' debug build.
    provider: Option<PathBuf>,
    check: bool,
    /// Print every call of the last repeat's commands.
    log: bool,
    /// Terraform's trace log of the complete example's commands (`TF_LOG=trace`), appended to
    /// this file: where the time outside AWS calls goes.
    tf_log: Option<PathBuf>,
}

/// The provider's speed: Terraform against the emulator through a proxy holding every AWS
/// call, rounds and calls beside their targets (docs/benchmarks.md).
#[derive(clap::Parser)]
#[command(name = "provider_speed", bin_name = "provider_speed")]
struct Cli {
    /// Repeats of each command.
    #[arg(long, env = "PROVIDER_BENCH_REPEATS", default_value_t = 3,
          value_parser = clap::value_parser!(u64).range(1..))]
    repeats: u64,
    /// What the proxy holds every AWS call, in milliseconds.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    delay_ms: u64,
    /// The provider executable (default: the tests' debug build).
    #[arg(long)]
    provider: Option<PathBuf>,
    /// Exit 1 if a target is missed.
    #[arg(long)]
    check: bool,
    /// Print every call of the last repeat's commands.
    #[arg(long)]
    log: bool,
    /// Append Terraform's trace of the example's commands to FILE.
    #[arg(long, value_name = "FILE")]
    tf_log: Option<PathBuf>,
    /// Passed by cargo bench to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

impl Options {
    fn parse() -> Result<Options> {
        let cli = <Cli as clap::Parser>::parse();
        let options = Options {
            repeats: cli.repeats as usize,
            delay: Duration::from_millis(cli.delay_ms),
            provider: cli.provider,
            check: cli.check,
            log: cli.log,
            tf_log: cli.tf_log,
        };
        if let Some(provider) = &options.provider {
            ensure!(
                provider.is_file(),
                "{} is missing: run `cargo build --release -p terraform-provider-unifiedetl` first",
                provider.display()
            );
        }
        Ok(options)
    }
}

/// The no-op configuration: the same provider, configured, and one resource Terraform itself
/// creates (no AWS call).
fn noop_tf(endpoint: &str) -> String {
    format!(
        r#"terraform {{
  required_providers {{
    unifiedetl = {{ source = "unifiedetl/unifiedetl" }}
  }}
}}

provider "unifiedetl" {{
  region       = "us-east-1"
  endpoint_url = "{endpoint}"
}}

resource "terraform_data" "noop" {{
  input = "noop"
}}
"#
    )
}

/// The measured commands, in the order they run (each right after its no-op twin). `plan only`
/// (`plan -refresh=false`, no AWS read) is Terraform's and the provider's own time for this
/// configuration beyond the no-op's: what refresh's rounds hold besides its reads.
const COMMANDS: [(&str, &[&str]); 4] = [
    (
        "create",
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    ),
    (
        "refresh",
        &[
            "plan",
            "-refresh=true",
            "-detailed-exitcode",
            "-input=false",
            "-no-color",
        ],
    ),
    (
        "plan only",
        &[
            "plan",
            "-refresh=false",
            "-detailed-exitcode",
            "-input=false",
            "-no-color",
        ],
    ),
    (
        "destroy",
        &["destroy", "-auto-approve", "-input=false", "-no-color"],
    ),
];

/// One Terraform command: its wall time and the AWS calls it made.
struct Sample {
    wall: Duration,
    /// When the command started and ended, on the proxy's clock (that of `calls`).
    from: Duration,
    to: Duration,
    calls: Vec<Call>,
}

/// Runs `args` in `tf` and takes the calls it made from the proxy's log: those that arrived
/// while it ran, once the proxy has answered them (`settle`: a call the command sent but did
/// not wait for, such as the identity asked at configure time by a plan that then needed no
/// identity, is answered after the command has ended). `plan` may exit 2 (changes), which is
/// reported, not fatal.
fn measure(
    tf: &Terraform,
    proxy: &CountingProxy,
    settle: Duration,
    args: &[&str],
) -> Result<(Sample, bool)> {
    proxy.take_log();
    let from = proxy.elapsed();
    let started = Instant::now();
    let run = tf.run(args)?;
    let wall = started.elapsed();
    let to = proxy.elapsed();
    let changes = args[0] == "plan" && run.code == 2;
    if run.code != 0 && !changes {
        bail!(
            "terraform {} exited {}\n{}\n{}",
            args.join(" "),
            run.code,
            run.stdout,
            run.stderr
        );
    }
    std::thread::sleep(settle);
    let mut calls: Vec<Call> = proxy
        .take_log()
        .into_iter()
        .filter(|c| from <= c.start && c.start <= to)
        .collect();
    calls.sort_by_key(|c| c.start);
    Ok((
        Sample {
            wall,
            from,
            to,
            calls,
        },
        changes,
    ))
}

/// The longest chain of strictly sequential calls: each one arrived after the previous one had
/// been answered (so the caller could have been waiting for it). Returns indices into `calls`
/// (sorted by start), in order. Among equally long chains, a step follows a call to the same
/// service where it can (more likely the same branch of the provider's work), else the call
/// answered last before it.
fn longest_chain(calls: &[Call]) -> Vec<usize> {
    let service = |call: &Call| call.operation.split(':').next().unwrap_or("").to_string();
    let mut depth = vec![0usize; calls.len()];
    let mut previous = vec![None; calls.len()];
    for (i, call) in calls.iter().enumerate() {
        let before = (0..i)
            .filter(|&j| calls[j].end <= call.start)
            .max_by_key(|&j| (depth[j], service(&calls[j]) == service(call), calls[j].end));
        depth[i] = 1 + before.map_or(0, |j| depth[j]);
        previous[i] = before;
    }
    let mut chain = Vec::new();
    let mut at = (0..calls.len()).max_by_key(|&i| (depth[i], std::cmp::Reverse(calls[i].end)));
    while let Some(i) = at {
        chain.push(i);
        at = previous[i];
    }
    chain.reverse();
    chain
}

/// Calls grouped by overlapping time windows: a new group starts when a call arrives after
/// every earlier call has been answered.
fn waves(calls: &[Call]) -> Vec<&[Call]> {
    let mut out = Vec::new();
    let (mut from, mut until) = (0, Duration::ZERO);
    for (i, call) in calls.iter().enumerate() {
        if i > from && call.start >= until {
            out.push(&calls[from..i]);
            from = i;
        }
        until = until.max(call.end);
    }
    if from < calls.len() {
        out.push(&calls[from..]);
    }
    out
}

/// Operations by count, most frequent first: `iam:GetRole ×3, sts:GetCallerIdentity`.
fn tally<'a>(operations: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for op in operations {
        *counts.entry(op).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|(op, n)| (std::cmp::Reverse(*n), *op));
    counts
        .iter()
        .map(|(op, n)| {
            if *n > 1 {
                format!("{op} ×{n}")
            } else {
                op.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One repeat: per command, the no-op's sample and the complete example's; and that of the
/// complete example with no pipeline (`count = 0`, see [`without_pipeline`]).
struct Repeat {
    samples: Vec<(Sample, Sample)>,
    walks: Vec<Sample>,
}

/// `examples/complete/main.tf` with `count = 0` on its pipeline and without its outputs (they
/// name the pipeline; `outputs.tf` is left out beside it): the same provider, configured and started by Terraform for each of its
/// walks as for the example, but no resource to read, plan or apply. Its wall time is
/// Terraform's own for a configuration that uses the provider; the no-op's, which does not,
/// leaves out those walks (see `plan only`).
fn without_pipeline(main_tf: &str) -> Result<String> {
    let head = "resource \"unifiedetl_pipeline\" \"orders\" {";
    ensure!(
        main_tf.contains(head),
        "examples/complete/main.tf: no `{head}`"
    );
    let mut out = String::new();
    let mut in_output = false;
    for line in main_tf
        .replacen(head, &format!("{head}\n  count = 0\n"), 1)
        .lines()
    {
        if line.starts_with("output ") {
            in_output = true;
        }
        if !in_output {
            out.push_str(line);
            out.push('\n');
        }
        if in_output && line == "}" {
            in_output = false;
        }
    }
    Ok(out)
}

fn main() -> Result<()> {
    let options = Options::parse()?;
    let runtime = tokio::runtime::Runtime::new()?;
    // DMS and Firehose resources settle at once: how long AWS takes to bring up a replication
    // instance or a delivery stream (minutes) is AWS's time, not the provider's, and the
    // emulator's stand-in for it (0.3 s) would count as rounds the critical path of calls does
    // not hold. The waiters still poll, and each poll is a call.
    // For the same reason the realism layer is off: it measures the provider's own rounds.
    for variable in [
        "EMULATOR_DMS_DELAY_SECONDS",
        "EMULATOR_FIREHOSE_DELAY_SECONDS",
        "KINESISANALYTICS_V1_TRANSITION_SECONDS",
        "EMULATOR_REALISM",
    ] {
        if std::env::var_os(variable).is_none() {
            std::env::set_var(variable, "0");
        }
    }
    let emulator = Emulator::start()?;
    // examples/complete has a DMS source: the account has its `dms-vpc-role` (docs/index.md).
    emulator.create_dms_vpc_role()?;
    let proxy = runtime.block_on(CountingProxy::start_with_delay(
        &emulator.endpoint,
        options.delay,
    ))?;
    let endpoint = proxy.endpoint();
    let mut env = emulator.env();
    for (name, value) in &mut env {
        if name == "AWS_ENDPOINT_URL" {
            *value = endpoint.clone();
        }
    }
    let new_tf = || match &options.provider {
        Some(provider) => Terraform::with_mirror(env.clone(), &mirror_of(provider)?),
        None => Terraform::with_env(env.clone()),
    };
    let noop = new_tf()?;
    noop.write(&noop_tf(&endpoint))?;
    let complete = match &options.tf_log {
        Some(file) => {
            let mut env = env.clone();
            env.push(("TF_LOG".into(), "trace".into()));
            env.push(("TF_LOG_PATH".into(), file.to_string_lossy().into_owned()));
            match &options.provider {
                Some(provider) => Terraform::with_mirror(env, &mirror_of(provider)?)?,
                None => Terraform::with_env(env)?,
            }
        }
        None => new_tf()?,
    };
    complete.copy_module(&repo_root().join("examples/complete"))?;
    std::fs::write(
        complete.dir().join("bench.auto.tfvars"),
        format!("endpoint_url = \"{endpoint}\"\n"),
    )?;
    let zero = new_tf()?;
    zero.copy_module(&repo_root().join("examples/complete"))?;
    zero.write(&without_pipeline(&std::fs::read_to_string(
        repo_root().join("examples/complete/main.tf"),
    )?)?)?;
    // The module's outputs name the pipeline, which has no instance to name here.
    match std::fs::remove_file(zero.dir().join("outputs.tf")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    std::fs::write(
        zero.dir().join("bench.auto.tfvars"),
        format!("endpoint_url = \"{endpoint}\"\n"),
    )?;
    noop.init()?;
    zero.init()?;
    complete.init()?;
    let delay_ms = options.delay.as_secs_f64() * 1e3;
    eprintln!(
        "provider speed: every AWS call held {delay_ms:.0} ms by the proxy at {endpoint}; \
         1 warm-up + {} measured repeats",
        options.repeats
    );

    let mut repeats = Vec::new();
    let mut warnings = Vec::new();
    for r in 0..=options.repeats {
        let mut samples = Vec::new();
        let mut walks = Vec::new();
        for (name, args) in COMMANDS {
            // Late answers come in within two delays; the emulator collects its garbage once it
            // has been idle 0.3 s (up to ~0.2 s), before the next command, not during it.
            let settle = (options.delay * 2).max(Duration::from_millis(700));
            // Its configure asks for the caller's identity, an answer it never waits for.
            walks.push(measure(&zero, &proxy, settle, args)?.0);
            let (baseline, _) = measure(&noop, &proxy, settle, args)?;
            let (sample, changes) = measure(&complete, &proxy, settle, args)?;
            if !baseline.calls.is_empty() {
                warnings.push(format!(
                    "the no-op {name} made {} AWS calls",
                    baseline.calls.len()
                ));
            }
            if changes && r > 0 {
                warnings.push(format!(
                    "repeat {r}: the plan after apply was not empty (rounds measured all the same)"
                ));
            }
            samples.push((baseline, sample));
        }
        let line = samples
            .iter()
            .zip(COMMANDS)
            .map(|((baseline, sample), (name, _))| {
                format!(
                    "{name} {:.2} s ({} calls; no-op {:.2} s)",
                    sample.wall.as_secs_f64(),
                    sample.calls.len(),
                    baseline.wall.as_secs_f64()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        if r == 0 {
            eprintln!("warm-up: {line}");
        } else {
            eprintln!("repeat {r}/{}: {line}", options.repeats);
            repeats.push(Repeat { samples, walks });
        }
        // The emulator finishes deletions a moment after answering them.
        std::thread::sleep(Duration::from_secs(1));
    }
    let missed = report(&repeats, options.delay, &warnings);
    if options.log {
        let last = &repeats[repeats.len() - 1];
        for ((_, sample), (name, _)) in last.samples.iter().zip(COMMANDS) {
            println!();
            println!(
                "{name}, last repeat, every call (arrived, answered: s since the command started):"
            );
            for call in &sample.calls {
                println!(
                    "  {:6.3} {:6.3}  {}",
                    (call.start - sample.from).as_secs_f64(),
                    (call.end - sample.from).as_secs_f64(),
                    call.operation
                );
            }
        }
    }
    if options.check && missed > 0 {
        bail!("{missed} target(s) missed");
    }
    Ok(())
}

/// Prints the table and the breakdowns; returns how many targets were missed.
fn report(repeats: &[Repeat], delay: Duration, warnings: &[String]) -> usize {
    let delay_ms = delay.as_secs_f64() * 1e3;
    let of = |command: usize, f: &dyn Fn(&Sample, &Sample) -> f64| -> Vec<f64> {
        repeats
            .iter()
            .map(|r| f(&r.samples[command].0, &r.samples[command].1))
            .collect()
    };
    let rounds = |command| {
        of(command, &|baseline, sample| {
            (sample.wall.as_secs_f64() - baseline.wall.as_secs_f64()) / delay.as_secs_f64()
        })
    };
    let calls = |command| of(command, &|_, sample| sample.calls.len() as f64);
    let chain = |command| {
        of(command, &|_, sample| {
            longest_chain(&sample.calls).len() as f64
        })
    };
    let wall = |command| of(command, &|_, sample| sample.wall.as_secs_f64());
    let call_ms = |command| {
        of(command, &|_, sample| {
            let each: Vec<f64> = sample
                .calls
                .iter()
                .map(|c| (c.end - c.start).as_secs_f64() * 1e3)
                .collect();
            median(&each)
        })
    };
    let noop = |command| of(command, &|baseline, _| baseline.wall.as_secs_f64());
    let walks = |command: usize| -> Vec<f64> {
        repeats
            .iter()
            .map(|r| r.walks[command].wall.as_secs_f64())
            .collect()
    };
    let rounds_beyond_walks = |command: usize| -> Vec<f64> {
        repeats
            .iter()
            .map(|r| {
                (r.samples[command].1.wall.as_secs_f64() - r.walks[command].wall.as_secs_f64())
                    / delay.as_secs_f64()
            })
            .collect()
    };

    println!();
    println!(
        "provider speed: examples/complete through a proxy adding {delay_ms:.0} ms to every AWS call; \
         {} repeats (+1 warm-up), one emulator",
        repeats.len()
    );
    println!(
        "rounds = (wall - the no-op configuration's wall, same repeat) / {delay_ms:.0} ms; \
         chain = longest run of strictly sequential calls in the proxy's log"
    );
    println!();
    let (metric, low, mid, target) = ("metric", "min", "median", "target");
    println!("{metric:<52} {low:>9} {mid:>9}   {target:<14} result");
    println!("{}", "-".repeat(98));
    let mut missed = 0;
    // `counted`: a verdict on the targets as defined (rounds against the no-op); the others
    // are shown in parentheses, for information.
    let mut row = |name: &str, values: &[f64], target: Option<(String, bool)>, counted: bool| {
        let (target, verdict) = match target {
            Some((text, ok)) => {
                if !ok && counted {
                    missed += 1;
                }
                let verdict = match (ok, counted) {
                    (true, true) => "met",
                    (false, true) => "MISSED",
                    (true, false) => "(met)",
                    (false, false) => "(missed)",
                };
                (text, verdict)
            }
            None => (String::new(), ""),
        };
        let (min, med) = (min(values), median(values));
        println!("{name:<52} {min:>9.2} {med:>9.2}   {target:<14} {verdict}");
    };
    for (i, (name, args)) in COMMANDS.iter().enumerate() {
        let verb = args[0];
        row(
            &format!("no-op {verb}: Terraform's own time (s)"),
            &noop(i),
            None,
            false,
        );
        row(
            &format!("{name}: terraform {verb} wall (s)"),
            &wall(i),
            None,
            false,
        );
        let r = rounds(i);
        let c = chain(i);
        let target = match *name {
            "refresh" => Some(("<= 3".to_string(), median(&r) <= 3.0)),
            "create" => Some((
                format!("<= {:.1}", 1.2 * median(&c)),
                median(&r) <= 1.2 * median(&c),
            )),
            _ => None,
        };
        row(&format!("{name}: rounds"), &r, target.clone(), true);
        row(
            &format!("no-op using the provider (count = 0) {verb} (s)"),
            &walks(i),
            None,
            false,
        );
        let beyond = rounds_beyond_walks(i);
        let target_beyond = target.map(|(text, _)| {
            let limit = if *name == "refresh" {
                3.0
            } else {
                1.2 * median(&c)
            };
            (text, median(&beyond) <= limit)
        });
        row(
            &format!("{name}: rounds beyond its walks of the provider"),
            &beyond,
            target_beyond,
            false,
        );
        row(
            &format!("{name}: critical path, sequential calls (chain)"),
            &c,
            None,
            false,
        );
        row(
            &format!("{name}: AWS calls (sequential cost)"),
            &calls(i),
            None,
            false,
        );
        let per_call = call_ms(i);
        if per_call.iter().all(|ms| ms.is_finite()) {
            row(
                &format!("{name}: one call through the proxy, median (ms)"),
                &per_call,
                None,
                false,
            );
        }
    }
    println!();
    println!(
        "verdicts use the median; create's target is its chain (the median) + 20 %; \
         the no-op runs right before each command, seconds apart."
    );
    println!(
        "rounds beyond its walks of the provider = (wall - the wall of examples/complete with \
         `count = 0` on its pipeline, same repeat) / {delay_ms:.0} ms: Terraform starts and \
         configures the provider for each walk there too, which the no-op does not; shown for \
         information, in parentheses, and not counted by --check."
    );
    for warning in warnings {
        println!("warning: {warning}");
    }

    // The breakdowns of the targets' commands, from the last repeat.
    let last = &repeats[repeats.len() - 1];
    for (i, (name, _)) in COMMANDS.iter().enumerate().take(2) {
        let (baseline, sample) = &last.samples[i];
        let calls = &sample.calls;
        let chain = longest_chain(calls);
        let (Some(first), Some(final_end)) = (calls.first(), calls.iter().map(|c| c.end).max())
        else {
            continue;
        };
        let origin = first.start;
        println!();
        println!(
            "{name}, last repeat: {} calls; before the first call {:.2} s, after the last {:.2} s \
             (the no-op's whole run: {:.2} s)",
            calls.len(),
            (origin.saturating_sub(sample.from)).as_secs_f64(),
            (sample.to.saturating_sub(final_end)).as_secs_f64(),
            baseline.wall.as_secs_f64()
        );
        println!(
            "  its chain of {} sequential calls (+offset from the first call; alongside: calls \
             in flight at the same time, any of which could stand in that step):",
            chain.len()
        );
        let mut previous_end = calls[chain[0]].start;
        let mut idle = Duration::ZERO;
        // The chain's calls' time beyond the proxy's delay: the emulator's own (queueing for
        // the calls beside them included) and the transfer of their bodies.
        let mut beyond_delay = Duration::ZERO;
        for &c in &chain {
            let call = &calls[c];
            let gap = call.start.saturating_sub(previous_end);
            idle += gap;
            beyond_delay += (call.end - call.start).saturating_sub(delay);
            previous_end = call.end;
            let alongside = calls
                .iter()
                .filter(|o| o.start < call.end && o.end > call.start)
                .count()
                - 1;
            let mut note = String::new();
            if alongside > 0 {
                note.push_str(&format!("   alongside {alongside}"));
            }
            if gap.as_millis() >= 20 {
                note.push_str(&format!("   idle before {:.0} ms", gap.as_secs_f64() * 1e3));
            }
            println!(
                "  +{:6.2} s  {}{note}",
                (call.start - origin).as_secs_f64(),
                call.operation
            );
        }
        println!(
            "  idle on the chain (no call in flight: waiter sleeps, provider and Terraform work): \
             {:.2} s = {:.1} rounds",
            idle.as_secs_f64(),
            idle.as_secs_f64() * 1e3 / delay_ms
        );
        // wall = before the chain + its calls + idle between them + after it, exactly; so
        // rounds = chain + these three shares.
        let rounds_of = |d: f64| d * 1e3 / delay_ms;
        let outside = (calls[chain[0]].start.saturating_sub(sample.from)
            + sample.to.saturating_sub(calls[chain[chain.len() - 1]].end))
        .as_secs_f64()
            - baseline.wall.as_secs_f64();
        println!(
            "  its {:.1} rounds: {} call(s) on the chain + {:.1} the chain's calls beyond the \
             proxy's {:.0} ms each (the emulator's own time) + {:.1} idle on the chain + {:.1} \
             before and after the chain beyond the no-op's whole run (Terraform and the provider)",
            rounds_of(sample.wall.as_secs_f64() - baseline.wall.as_secs_f64()),
            chain.len(),
            rounds_of(beyond_delay.as_secs_f64()),
            delay_ms,
            rounds_of(idle.as_secs_f64()),
            rounds_of(outside)
        );
        // What the target leaves for everything but the chain's calls, beside how much of it
        // Terraform's walks of the provider alone take (spread over the three shares above:
        // the apply walk's start falls in the chain's idle time).
        let beyond_chain =
            rounds_of(sample.wall.as_secs_f64() - baseline.wall.as_secs_f64()) - chain.len() as f64;
        let walks_share = rounds_of(last.walks[i].wall.as_secs_f64() - baseline.wall.as_secs_f64());
        let allowed = match *name {
            "create" => format!("{:.1} (0.2 x the chain)", 0.2 * chain.len() as f64),
            _ => format!("{:.1} (3 rounds in all)", 3.0 - chain.len() as f64),
        };
        println!(
            "  beyond the chain's {} call(s): {beyond_chain:.1} rounds, where the target allows \
             {allowed}; of them, {walks_share:.1} are Terraform starting and configuring the \
             provider for its walks (the count = 0 run's wall beyond the no-op's, this repeat)",
            chain.len()
        );
        if *name == "refresh" {
            println!(
                "where refresh's rounds go (calls grouped by overlapping time windows; runs of \
                 lone calls to one service joined):"
            );
            // (offset, sequential calls, calls, description)
            let mut lines: Vec<(Duration, usize, usize, String)> = Vec::new();
            let mut lone_service: Option<String> = None;
            for wave in waves(calls) {
                let at = wave[0].start - origin;
                let service = wave[0]
                    .operation
                    .split(':')
                    .next()
                    .unwrap_or("?")
                    .to_string();
                if wave.len() == 1 {
                    let op = &wave[0].operation;
                    match lines.last_mut() {
                        Some((_, steps, n, text)) if lone_service.as_ref() == Some(&service) => {
                            *steps += 1;
                            *n += 1;
                            text.push_str(&format!(" -> {op}"));
                        }
                        _ => lines.push((at, 1, 1, format!("one after another: {op}"))),
                    }
                    lone_service = Some(service);
                } else {
                    let text = format!(
                        "at once: {}",
                        tally(wave.iter().map(|c| c.operation.as_str()))
                    );
                    lines.push((at, longest_chain(wave).len(), wave.len(), text));
                    lone_service = None;
                }
            }
            for (at, steps, n, text) in lines {
                println!(
                    "  +{:5.2} s  {steps:>2} sequential, {n:>2} calls  {text}",
                    at.as_secs_f64()
                );
            }
        }
    }

    // Calls per operation, last repeat.
    println!();
    let names: Vec<&str> = COMMANDS.iter().map(|(name, _)| *name).collect();
    println!(
        "AWS calls by operation, last repeat ({}):",
        names.join(" / ")
    );
    let mut by_op: BTreeMap<&str, [usize; COMMANDS.len()]> = BTreeMap::new();
    for (i, (_, sample)) in last.samples.iter().enumerate() {
        for call in &sample.calls {
            by_op.entry(call.operation.as_str()).or_default()[i] += 1;
        }
    }
    for (op, counts) in &by_op {
        let counts: Vec<String> = counts.iter().map(|n| format!("{n:>4}")).collect();
        println!("  {op:<70} {}", counts.join(" "));
    }
    missed
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
