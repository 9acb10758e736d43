//! The engine: worker threads (one current-thread runtime per core), VUs as local tasks, the
//! executors' control loops, and the aggregator that merges per-worker data and emits the
//! per-second series on the caller's channel.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sha2::Sha256;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::client::{self, Sender};
use crate::metrics::{Aggregate, Hist, RequestSample, new_interval_hist, record};
use crate::result::{RequestInfo, RunResult, TimeseriesRow};
use crate::scenario::{CheckKind, ExecutorConfig, Plan, PlannedRequest};
use crate::schedule::{ArrivalSchedule, ramping_vus_at};
use crate::template::Context;

/// Errors that stop a run from starting. Once the load runs, failures are samples, not errors.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The target host did not resolve.
    #[error("cannot resolve `{host}`: {message}; check the target URL")]
    Resolve { host: String, message: String },
    /// The target refused or did not answer the pre-flight connection.
    #[error("target `{target}` is unreachable: {message}; is it running?")]
    Unreachable { target: String, message: String },
    /// A worker thread could not be started.
    #[error("failed to start a load worker thread")]
    Thread(#[source] std::io::Error),
}

/// What the engine tells its consumers while it runs.
#[derive(Debug, Clone)]
pub enum Event {
    /// The load phase started.
    Started {
        planned: Duration,
        vus_max: u64,
        workers: usize,
    },
    /// One second of the series is complete.
    Second(TimeseriesRow),
    /// The planned duration is over; iterations in flight get their graceful stop.
    Stopping,
}

/// Resolves the target's address.
pub async fn resolve(plan: &Plan) -> Result<SocketAddr, EngineError> {
    let host = plan.target.host.clone();
    let mut addrs = tokio::net::lookup_host((host.as_str(), plan.target.port))
        .await
        .map_err(|err| EngineError::Resolve {
            host: host.clone(),
            message: err.to_string(),
        })?;
    let first = addrs.next();
    drop(addrs);
    first.ok_or_else(|| EngineError::Resolve {
        host: plan.target.host.clone(),
        message: "no address".into(),
    })
}

/// Pre-flight: one TCP connection to the target within `timeout`.
pub async fn preflight(plan: &Plan, timeout: Duration) -> Result<(), EngineError> {
    let addr = resolve(plan).await?;
    let unreachable = |message: String| EngineError::Unreachable {
        target: plan.target.base_url.clone(),
        message,
    };
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(unreachable(err.to_string())),
        Err(_) => Err(unreachable(format!("no answer within {timeout:?}"))),
    }
}

/// State shared by every worker thread.
struct Shared {
    plan: Plan,
    addr: SocketAddr,
    start: Instant,
    workers: usize,
    /// No new iterations (planned end reached or cancelled).
    stop: CancellationToken,
    /// Abort iterations in flight (graceful stop over or cancelled).
    hard: CancellationToken,
    active_vus: AtomicU64,
    vus_max: AtomicU64,
    shared_iterations: AtomicU64,
    vu_target: watch::Receiver<u64>,
}

enum WorkerMsg {
    Interval {
        second: u64,
        requests: u64,
        errors: u64,
        hist: Box<Hist>,
    },
    Done(Box<Aggregate>),
}

/// Per-worker recording state (one per thread, no locks).
struct Recorder {
    agg: Aggregate,
    second: u64,
    requests: u64,
    errors: u64,
    hist: Hist,
}

impl Recorder {
    fn flush(&mut self, tx: &mpsc::UnboundedSender<WorkerMsg>, next_second: u64) {
        let hist = std::mem::replace(&mut self.hist, new_interval_hist());
        let _ = tx.send(WorkerMsg::Interval {
            second: self.second,
            requests: std::mem::take(&mut self.requests),
            errors: std::mem::take(&mut self.errors),
            hist: Box::new(hist),
        });
        self.second = next_second;
    }
}

struct WorkerCtx {
    shared: Arc<Shared>,
    recorder: Mutex<Recorder>,
    /// Per request: static URI, static headers (with Host), static body.
    prepared: Vec<Prepared>,
}

impl WorkerCtx {
    /// The worker's recorder; only this worker's tasks (one thread) take it, so it is never
    /// contended.
    fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Prepared {
    uri: Option<http::Uri>,
    headers: http::HeaderMap,
    body: Option<Bytes>,
    keep_body: bool,
}

struct Vu {
    id: u64,
    iter: u64,
    conn: Option<Sender>,
    rng: SmallRng,
    scratch: String,
}

impl Vu {
    fn new(id: u64) -> Vu {
        Vu {
            id,
            iter: 0,
            conn: None,
            rng: SmallRng::from_rng(&mut rand::rng()),
            scratch: String::new(),
        }
    }
}

/// Runs `plan` to its end (or until `cancel`), emitting [`Event`]s, and returns the merged
/// result. Failures of the target during the load are counted, never returned as errors.
pub async fn run_scenario(
    plan: Plan,
    events: mpsc::UnboundedSender<Event>,
    cancel: CancellationToken,
) -> Result<RunResult, EngineError> {
    let addr = resolve(&plan).await?;
    let max_vus = plan.executor.max_vus();
    let workers = plan
        .workers
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1)
        })
        .clamp(1, max_vus.max(1) as usize);
    let initial_target = match &plan.executor {
        ExecutorConfig::RampingVus {
            start_vus, stages, ..
        } => ramping_vus_at(*start_vus, stages, Duration::ZERO),
        _ => u64::MAX,
    };
    let (target_tx, target_rx) = watch::channel(initial_target);
    let planned = plan.executor.planned_duration();
    let graceful = plan.executor.graceful_stop();
    let executor = plan.executor.clone();
    let started_at = chrono::Utc::now();
    let start = Instant::now();
    let shared = Arc::new(Shared {
        plan,
        addr,
        start,
        workers,
        stop: CancellationToken::new(),
        hard: CancellationToken::new(),
        active_vus: AtomicU64::new(0),
        vus_max: AtomicU64::new(0),
        shared_iterations: AtomicU64::new(0),
        vu_target: target_rx,
    });
    let _ = events.send(Event::Started {
        planned,
        vus_max: max_vus,
        workers,
    });
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut threads = Vec::new();
    for index in 0..workers {
        let shared = shared.clone();
        let tx = tx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("cricalgo-load-{index}"))
            .spawn(move || worker_main(index, shared, tx))
            .map_err(EngineError::Thread)?;
        threads.push(handle);
    }
    drop(tx);

    // The controller: ends the load phase on time, ramps VUs, honours cancellation.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let controller = {
        let shared = shared.clone();
        let interrupted = interrupted.clone();
        let events = events.clone();
        let cancel = cancel.clone();
        let executor = executor.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::from_std(start + planned);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => {
                        interrupted.store(true, Ordering::SeqCst);
                        shared.stop.cancel();
                        shared.hard.cancel();
                        return;
                    }
                    _ = tokio::time::sleep_until(deadline) => break,
                    _ = shared.stop.cancelled() => break,
                    _ = tick.tick() => {
                        if let ExecutorConfig::RampingVus { start_vus, stages, .. } = &executor {
                            let target = ramping_vus_at(*start_vus, stages, start.elapsed());
                            target_tx.send_if_modified(|current| {
                                let changed = *current != target;
                                *current = target;
                                changed
                            });
                        }
                    }
                }
            }
            shared.stop.cancel();
            let _ = events.send(Event::Stopping);
            tokio::select! {
                _ = cancel.cancelled() => {
                    interrupted.store(true, Ordering::SeqCst);
                }
                _ = tokio::time::sleep(graceful) => {}
            }
            shared.hard.cancel();
        })
    };

    // The aggregator: per-second rows once every worker has reported that second.
    let mut total = Aggregate::new(shared.plan.check_names.len());
    let mut pending: BTreeMap<u64, (usize, u64, u64, Hist)> = BTreeMap::new();
    let mut rows = Vec::new();
    let mut done = 0;
    let mut vus_peak = 0;
    while let Some(msg) = rx.recv().await {
        match msg {
            WorkerMsg::Interval {
                second,
                requests,
                errors,
                hist,
            } => {
                let entry = pending
                    .entry(second)
                    .or_insert_with(|| (0, 0, 0, new_interval_hist()));
                entry.0 += 1;
                entry.1 += requests;
                entry.2 += errors;
                let _ = entry.3.add(&*hist);
                let vus = shared.active_vus.load(Ordering::Relaxed);
                vus_peak = vus_peak.max(vus);
                while let Some((&first, entry)) = pending.iter().next() {
                    if entry.0 < workers {
                        break;
                    }
                    let Some((_, requests, errors, hist)) = pending.remove(&first) else {
                        break;
                    };
                    let row = make_row(first, vus, requests, errors, &hist);
                    let _ = events.send(Event::Second(row.clone()));
                    rows.push(row);
                }
            }
            WorkerMsg::Done(agg) => {
                total.merge(&agg);
                done += 1;
                if done == workers {
                    break;
                }
            }
        }
    }
    let vus_last = shared.active_vus.load(Ordering::Relaxed);
    for (second, (_, requests, errors, hist)) in std::mem::take(&mut pending) {
        let row = make_row(second, vus_last, requests, errors, &hist);
        let _ = events.send(Event::Second(row.clone()));
        rows.push(row);
    }
    let load_duration = start.elapsed();
    controller.abort();
    for handle in threads {
        let _ = handle.join();
    }
    let incomplete = interrupted.load(Ordering::SeqCst) || cancel.is_cancelled();
    let plan = &shared.plan;
    let requests = plan
        .requests
        .iter()
        .map(|req| RequestInfo {
            name: req.name.clone(),
            method: req.method.to_string(),
            url: format!(
                "{}{}",
                plan.target.base_url,
                req.path.as_static().unwrap_or("")
            ),
            tags: req.tags.clone(),
        })
        .collect();
    let mut notes = Vec::new();
    if incomplete {
        notes.push(format!(
            "interrupted after {:.1} s of a planned {:.1} s: figures cover what was gathered",
            load_duration.as_secs_f64(),
            planned.as_secs_f64()
        ));
    }
    if executor.is_arrival_rate() {
        notes.extend(arrival_notes(&total));
    }
    Ok(RunResult {
        scenario: plan.name.clone(),
        executor: executor.name().to_string(),
        target: plan.target.base_url.clone(),
        started_at,
        ended_at: chrono::Utc::now(),
        load_duration,
        incomplete,
        vus_max: shared.vus_max.load(Ordering::Relaxed).max(match &executor {
            ExecutorConfig::ConstantArrivalRate {
                pre_allocated_vus, ..
            }
            | ExecutorConfig::RampingArrivalRate {
                pre_allocated_vus, ..
            } => *pre_allocated_vus,
            other => other.max_vus(),
        }),
        vus_last,
        vus_peak,
        requests,
        scenario_tags: plan.tags.clone(),
        check_names: plan.check_names.clone(),
        aggregate: total,
        timeseries: rows,
        notes,
        arrival_rate: executor.is_arrival_rate(),
        thresholds: plan.thresholds.clone(),
    })
}

fn arrival_notes(total: &Aggregate) -> Vec<String> {
    let mut notes = Vec::new();
    let delay = &total.iteration_start_delay;
    if !delay.is_empty() {
        let p95_ms = delay.value_at_quantile(0.95) as f64 / 1000.0;
        if p95_ms > 25.0 {
            notes.push(format!(
                "generator-bound: iterations started {p95_ms:.1} ms behind schedule (p95) while VUs were free; the generator could not keep the rate, so these figures do not show the server's limit"
            ));
        }
    }
    if total.dropped_iterations > 0 {
        notes.push(format!(
            "{} iterations dropped: every VU was busy when they were due (the target is slower than the rate needs, or raise `maxVUs`)",
            total.dropped_iterations
        ));
    }
    notes
}

fn make_row(t: u64, vus: u64, requests: u64, errors: u64, hist: &Hist) -> TimeseriesRow {
    let pct = |q: f64| {
        if hist.is_empty() {
            0.0
        } else {
            hist.value_at_quantile(q) as f64 / 1000.0
        }
    };
    TimeseriesRow {
        t,
        vus,
        requests,
        errors,
        p50_ms: pct(0.50),
        p95_ms: pct(0.95),
        p99_ms: pct(0.99),
    }
}

fn prepare(plan: &Plan) -> Vec<Prepared> {
    plan.requests
        .iter()
        .map(|req| {
            let mut headers = http::HeaderMap::new();
            if let Ok(host) = http::HeaderValue::from_str(&plan.target.authority) {
                headers.insert(http::header::HOST, host);
            }
            headers.insert(
                http::header::USER_AGENT,
                http::HeaderValue::from_static(concat!("cricalgo/", env!("CARGO_PKG_VERSION"))),
            );
            for (name, template) in &req.headers {
                if let Some(text) = template.as_static()
                    && let Ok(value) = http::HeaderValue::from_str(text)
                {
                    headers.insert(name.clone(), value);
                }
            }
            Prepared {
                uri: req.path.as_static().and_then(|path| path.parse().ok()),
                headers,
                body: req
                    .body
                    .as_ref()
                    .and_then(|body| body.as_static().map(|text| Bytes::from(text.to_string()))),
                keep_body: req.checks.iter().any(|check| check.kind.needs_body()),
            }
        })
        .collect()
}

fn worker_main(index: usize, shared: Arc<Shared>, tx: mpsc::UnboundedSender<WorkerMsg>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(_) => {
            let _ = tx.send(WorkerMsg::Done(Box::new(Aggregate::new(
                shared.plan.check_names.len(),
            ))));
            return;
        }
    };
    runtime.block_on(async move {
        let ctx = Arc::new(WorkerCtx {
            prepared: prepare(&shared.plan),
            recorder: Mutex::new(Recorder {
                agg: Aggregate::new(shared.plan.check_names.len()),
                second: 0,
                requests: 0,
                errors: 0,
                hist: new_interval_hist(),
            }),
            shared: shared.clone(),
        });
        let finished = CancellationToken::new();
        let ticker = {
            let ctx = ctx.clone();
            let tx = tx.clone();
            let finished = finished.clone();
            tokio::spawn(async move {
                let mut next = 1u64;
                loop {
                    let at = tokio::time::Instant::from_std(
                        ctx.shared.start + Duration::from_secs(next),
                    );
                    tokio::select! {
                        _ = finished.cancelled() => return,
                        _ = tokio::time::sleep_until(at) => {
                            ctx.recorder().flush(&tx, next);
                            next += 1;
                        }
                    }
                }
            })
        };
        if shared.plan.executor.is_arrival_rate() {
            run_open(index, &ctx).await;
        } else {
            run_closed(index, &ctx).await;
        }
        finished.cancel();
        let _ = ticker.await;
        let mut recorder = ctx.recorder();
        let next = recorder.second + 1;
        recorder.flush(&tx, next);
        let agg = std::mem::replace(&mut recorder.agg, Aggregate::new(0));
        let _ = tx.send(WorkerMsg::Done(Box::new(agg)));
    });
}

/// VU ids `1..=max` owned by worker `index` (round-robin).
fn vu_ids(index: usize, workers: usize, max: u64) -> impl Iterator<Item = u64> {
    (1..=max).filter(move |id| ((*id - 1) as usize) % workers == index)
}

async fn run_closed(index: usize, ctx: &Arc<WorkerCtx>) {
    let shared = &ctx.shared;
    let ids: Vec<u64> = vu_ids(index, shared.workers, shared.plan.executor.max_vus()).collect();
    shared
        .vus_max
        .fetch_add(ids.len() as u64, Ordering::Relaxed);
    let mut handles = Vec::new();
    for id in ids {
        let ctx = ctx.clone();
        handles.push(tokio::spawn(closed_vu(Vu::new(id), ctx)));
    }
    for handle in handles {
        let _ = handle.await;
    }
}

async fn closed_vu(vu: Vu, ctx: Arc<WorkerCtx>) {
    let active = AtomicBool::new(false);
    // One wait on the hard stop per VU (not per iteration): iterations in flight are dropped
    // when the graceful stop runs out.
    tokio::select! {
        biased;
        _ = ctx.shared.hard.cancelled() => {}
        _ = closed_loop(vu, &ctx, &active) => {}
    }
    let shared = &ctx.shared;
    set_active(shared, &active, false);
    // shared-iterations ends when the last iteration is done, not at `maxDuration`.
    if let ExecutorConfig::SharedIterations { .. } = &shared.plan.executor
        && !shared.stop.is_cancelled()
        && shared.active_vus.load(Ordering::Relaxed) == 0
    {
        shared.stop.cancel();
    }
}

fn set_active(shared: &Shared, active: &AtomicBool, on: bool) {
    if active.swap(on, Ordering::Relaxed) != on {
        if on {
            shared.active_vus.fetch_add(1, Ordering::Relaxed);
        } else {
            shared.active_vus.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

async fn closed_loop(mut vu: Vu, ctx: &WorkerCtx, active: &AtomicBool) {
    let shared = &ctx.shared;
    let mut target = shared.vu_target.clone();
    loop {
        if shared.stop.is_cancelled() {
            break;
        }
        match &shared.plan.executor {
            ExecutorConfig::RampingVus { .. } if *target.borrow() < vu.id => {
                set_active(shared, active, false);
                let id = vu.id;
                tokio::select! {
                    _ = shared.stop.cancelled() => break,
                    changed = target.wait_for(|t| *t >= id) => {
                        if changed.is_err() {
                            break;
                        }
                    }
                }
            }
            ExecutorConfig::SharedIterations { iterations, .. } => {
                let claimed = shared.shared_iterations.fetch_add(1, Ordering::Relaxed);
                if claimed >= *iterations {
                    break;
                }
            }
            _ => {}
        }
        set_active(shared, active, true);
        iteration(&mut vu, ctx, None).await;
    }
}

async fn run_open(index: usize, ctx: &Arc<WorkerCtx>) {
    let shared = &ctx.shared;
    let workers = shared.workers as u64;
    let (schedule, pre, max) = match &shared.plan.executor {
        ExecutorConfig::ConstantArrivalRate {
            rate,
            time_unit,
            duration,
            pre_allocated_vus,
            ..
        } => (
            ArrivalSchedule::constant(*rate, *time_unit, *duration),
            *pre_allocated_vus,
            shared.plan.executor.max_vus(),
        ),
        ExecutorConfig::RampingArrivalRate {
            start_rate,
            time_unit,
            stages,
            pre_allocated_vus,
            ..
        } => (
            ArrivalSchedule::ramping(*start_rate, *time_unit, stages),
            *pre_allocated_vus,
            shared.plan.executor.max_vus(),
        ),
        _ => return,
    };
    let share = |total: u64| total / workers + u64::from((index as u64) < total % workers);
    let mut ids = vu_ids(index, shared.workers, max);
    let pool: Arc<Mutex<Vec<Vu>>> = Arc::new(Mutex::new(
        ids.by_ref()
            .take(share(pre) as usize)
            .map(Vu::new)
            .collect(),
    ));
    let take = |pool: &Mutex<Vec<Vu>>| pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let mut allocated = pool.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
    shared.vus_max.fetch_add(allocated, Ordering::Relaxed);
    let my_max = share(max).max(allocated);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let idle = Arc::new(Notify::new());
    let mut n = index as u64;
    while let Some(offset) = schedule.start_of(n) {
        let intended = shared.start + offset;
        if intended > Instant::now() {
            tokio::select! {
                _ = shared.stop.cancelled() => break,
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(intended)) => {}
            }
        }
        if shared.stop.is_cancelled() {
            break;
        }
        n += workers;
        let vu = take(&pool);
        let vu = match vu {
            Some(vu) => vu,
            None if allocated < my_max => match ids.next() {
                Some(id) => {
                    allocated += 1;
                    shared.vus_max.fetch_add(1, Ordering::Relaxed);
                    Vu::new(id)
                }
                None => {
                    ctx.recorder().agg.dropped_iterations += 1;
                    continue;
                }
            },
            None => {
                ctx.recorder().agg.dropped_iterations += 1;
                continue;
            }
        };
        in_flight.fetch_add(1, Ordering::SeqCst);
        shared.active_vus.fetch_add(1, Ordering::Relaxed);
        let (ctx, pool, in_flight, idle) =
            (ctx.clone(), pool.clone(), in_flight.clone(), idle.clone());
        tokio::spawn(async move {
            let mut vu = vu;
            tokio::select! {
                biased;
                _ = ctx.shared.hard.cancelled() => {}
                _ = iteration(&mut vu, &ctx, Some(intended)) => {}
            }
            ctx.shared.active_vus.fetch_sub(1, Ordering::Relaxed);
            pool.lock().unwrap_or_else(|e| e.into_inner()).push(vu);
            in_flight.fetch_sub(1, Ordering::SeqCst);
            idle.notify_one();
        });
    }
    while in_flight.load(Ordering::SeqCst) > 0 {
        tokio::select! {
            _ = shared.hard.cancelled() => break,
            _ = idle.notified() => {}
        }
    }
    // Tasks aborted by the hard stop still need a turn to give their VU back.
    while in_flight.load(Ordering::SeqCst) > 0 {
        tokio::task::yield_now().await;
    }
}

async fn iteration(vu: &mut Vu, ctx: &WorkerCtx, intended: Option<Instant>) {
    let started = Instant::now();
    let delay_us = intended.map(|at| started.saturating_duration_since(at).as_micros() as u64);
    for (index, request) in ctx.shared.plan.requests.iter().enumerate() {
        send_one(vu, ctx, index, request, delay_us).await;
    }
    if let Some(think) = ctx.shared.plan.think_time {
        let pause = if think.max > think.min {
            vu.rng.random_range(think.min..=think.max)
        } else {
            think.min
        };
        tokio::time::sleep(pause).await;
    }
    let elapsed = started.elapsed().as_micros() as u64;
    ctx.recorder().agg.record_iteration(elapsed, delay_us);
    vu.iter += 1;
}

async fn send_one(
    vu: &mut Vu,
    ctx: &WorkerCtx,
    index: usize,
    request: &PlannedRequest,
    delay_us: Option<u64>,
) {
    let prepared = &ctx.prepared[index];
    let target = &ctx.shared.plan.target;
    let mut tctx = Context {
        vu: vu.id,
        iter: vu.iter,
        rng: &mut vu.rng,
    };
    let uri = match &prepared.uri {
        Some(uri) => uri.clone(),
        None => {
            request.path.render_into(&mut tctx, &mut vu.scratch);
            match vu.scratch.parse() {
                Ok(uri) => uri,
                Err(_) => http::Uri::from_static("/"),
            }
        }
    };
    let body = match (&prepared.body, &request.body) {
        (Some(body), _) => body.clone(),
        (None, Some(template)) => Bytes::from(template.render(&mut tctx)),
        (None, None) => Bytes::new(),
    };
    let mut headers = prepared.headers.clone();
    for (name, template) in &request.headers {
        if template.as_static().is_none() {
            let text = template.render(&mut tctx);
            if let Ok(value) = http::HeaderValue::from_str(&text) {
                headers.insert(name.clone(), value);
            }
        }
    }
    if let Some((header, prefix, secret)) = &request.signing
        && let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret)
    {
        mac.update(&body);
        let signature = format!("{prefix}{}", hex::encode(mac.finalize().into_bytes()));
        if let Ok(value) = http::HeaderValue::from_str(&signature) {
            headers.insert(header.clone(), value);
        }
    }
    let body_len = body.len();
    let mut builder = http::Request::builder()
        .method(request.method.clone())
        .uri(uri);
    if let Some(map) = builder.headers_mut() {
        *map = headers;
    }
    let Ok(req) = builder.body(Full::new(body)) else {
        return;
    };
    let _ = target;
    let response = match tokio::time::timeout(
        ctx.shared.plan.timeout,
        client::send(
            &mut vu.conn,
            ctx.shared.addr,
            req,
            body_len,
            prepared.keep_body,
        ),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => {
            vu.conn = None;
            client::Response {
                waiting: ctx.shared.plan.timeout,
                error: Some("request timed out".into()),
                ..client::Response::default()
            }
        }
    };
    let sample = RequestSample {
        request: index,
        status: response.status,
        connecting_us: response.connecting.as_micros() as u64,
        waiting_us: response.waiting.as_micros() as u64,
        receiving_us: response.receiving.as_micros() as u64,
        delay_us,
        sent: response.sent,
        received: response.received,
    };
    let failed = !(200..400).contains(&response.status);
    let parsed_json = if request.checks.iter().any(|c| {
        matches!(
            c.kind,
            CheckKind::JsonEquals(..) | CheckKind::JsonNotEmpty(_)
        )
    }) {
        response
            .body
            .as_deref()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).ok())
    } else {
        None
    };
    let mut recorder = ctx.recorder();
    recorder.agg.record_request(&sample);
    recorder.requests += 1;
    if failed {
        recorder.errors += 1;
    }
    record(&mut recorder.hist, sample.waiting_us + sample.receiving_us);
    for check in &request.checks {
        let passed = match &check.kind {
            CheckKind::Status(status) => response.status == *status,
            CheckKind::BodyContains(text) => response.body.as_deref().is_some_and(|body| {
                body.windows(text.len().max(1))
                    .any(|window| window == text.as_bytes())
            }),
            CheckKind::JsonEquals(path, expected) => {
                lookup(parsed_json.as_ref(), path) == Some(expected)
            }
            CheckKind::JsonNotEmpty(path) => match lookup(parsed_json.as_ref(), path) {
                None | Some(serde_json::Value::Null) => false,
                Some(serde_json::Value::String(text)) => !text.is_empty(),
                Some(serde_json::Value::Array(items)) => !items.is_empty(),
                Some(serde_json::Value::Object(map)) => !map.is_empty(),
                Some(_) => true,
            },
        };
        recorder.agg.record_check(check.id, passed);
    }
}

fn lookup<'a>(
    value: Option<&'a serde_json::Value>,
    path: &[String],
) -> Option<&'a serde_json::Value> {
    let mut current = value?;
    for key in path {
        current = match current {
            serde_json::Value::Object(map) => map.get(key)?,
            serde_json::Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}
