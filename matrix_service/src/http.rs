//! The routes both servers serve, generic over the [`Engine`] that does the parallel part.
//!
//! Handlers stay thin: parse, wait for admission, run the work, and answer. Where the work runs is
//! the engine's ([`RunsOn`]): for threads and processes, on actix's blocking pool (`web::block`)
//! so the event loops keep answering other connections, the JSON serialized there too, and a
//! `POST`'s answer, which can be tens of megabytes, on a thread of lower priority instead
//! ([`crate::background`]); for tasks, in the request's task on its event loop, all of it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse, http::header};
use ndarray::ArrayView2;

use crate::admission::Admission;
use crate::answer::{Answer, Rows, Shape};
use crate::background::spawn_background;
use crate::bands::band_count;
use crate::body::WorkBody;
use crate::endpoint::Endpoint;
use crate::engine::{Engine, RunsOn, Workspace};
use crate::error::ApiError;
use crate::matrix::{checksum, generate_encoded, sample};
use crate::memory_budget::{Charge, ChargedBody, MemoryBudget};
use crate::metrics::{Metrics, WorkLabel};
use crate::params::{GenerateParams, Limits, parse_query};
use crate::shapes::Shapes;
use crate::task::Task;
use crate::trace::{Phase, RequestId, Since, Trace, Tracer};
use crate::upload::{BodyRules, Received, Upload};

/// One server's shared state: built once, outside the `HttpServer` factory, so every actix
/// worker thread shares the same engine, admission bound and memory budget.
pub struct Service<E> {
    engine: E,
    endpoint: Endpoint,
    limits: Limits,
    admission: Admission,
    budget: MemoryBudget,
    body_rules: BodyRules,
    index_page: String,
    metrics: Arc<Metrics>,
    tracer: Tracer,
}

/// What a [`Service`] is built from besides its engine and endpoint.
pub struct ServiceParts {
    pub limits: Limits,
    pub admission: Admission,
    pub budget: MemoryBudget,
    pub body_rules: BodyRules,
    /// What `GET /debug/trace` records with.
    pub tracer: Tracer,
}

impl<E: Engine> Service<E> {
    pub fn new(engine: E, endpoint: Endpoint, parts: ServiceParts) -> Self {
        let ServiceParts {
            limits,
            admission,
            budget,
            body_rules,
            tracer,
        } = parts;
        // The endpoint's path is a label of every request counted; leaked once, at start-up, so
        // that counting a request copies no string.
        let path: &'static str = Box::leak(endpoint.path().into_boxed_str());
        let metrics = Metrics::new(path, |registry| engine.register_metrics(registry));
        Self {
            index_page: endpoint.render_page(&limits),
            metrics,
            engine,
            endpoint,
            limits,
            admission,
            budget,
            body_rules,
            tracer,
        }
    }

    /// Bytes of the request-memory budget free now (for tests and diagnostics).
    pub fn budget_available_bytes(&self) -> u64 {
        self.budget.available_bytes()
    }

    /// Gives the engine's spare matrix memory that has been idle a while back to the OS.
    pub fn reclaim_idle(&self, now: Instant) {
        self.engine.reclaim_idle(now);
    }

    /// The endpoint this service answers on.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The server's metrics (`GET /metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Generates the matrices, computes, and serializes the answer: done on return for an engine
    /// that runs on a blocking thread.
    async fn answer_generated(
        &self,
        params: GenerateParams,
        started: Instant,
        trace: Trace<'_>,
    ) -> Result<Vec<u8>, ApiError> {
        let shapes = Shapes::square(params.work, params.n);
        let generating = Instant::now();
        let since = trace.start();
        let mut work = self.engine.workspace(shapes)?;
        // Generated values have a known bound, so the task is known before them, and they are
        // written as its kernel reads them: nothing is left to prepare.
        let task = Task::generated(params.work, shapes);
        let (a, b) = work.inputs_mut();
        generate_encoded(params.seed, a, b, task.encoding());
        // The computation's span begins where generation's ends, so recording one event is
        // never a gap between two (on a loop that interleaves requests, it would be one).
        let generated = trace.here(Phase::Generate, since);
        let generation = generating.elapsed();
        let shape = Shape::Square { n: params.n };
        self.compute_and_answer(
            work,
            (|_: &mut E::Workspace| task, params.workers),
            shape,
            params.seed,
            (generation, generated),
            (started, trace),
        )
        .await
    }

    /// Computes on posted matrices and serializes the answer with the whole result (see
    /// [`answer_generated`](Self::answer_generated)).
    async fn answer_posted(
        &self,
        body: WorkBody,
        decoding: Duration,
        (started, trace): (Instant, Trace<'_>),
    ) -> Result<Vec<u8>, ApiError> {
        let WorkBody {
            a,
            b,
            shapes,
            workers,
            work: task,
        } = body;
        let workers = workers.unwrap_or(self.limits.default_workers);
        let (rows, cols) = shapes.out;
        let (a, b) = (into_elements(a), into_elements(b));
        let work = self.engine.workspace_with(a, b, shapes)?;
        // Posted values are read for their largest, and converted for the f64 kernel if it is
        // exact for them: part of the computation.
        let prepare = |work: &mut E::Workspace| {
            let (a, b) = work.inputs_mut();
            Task::prepare(task, shapes, a, b)
        };
        self.compute_and_answer(
            work,
            (prepare, workers),
            Shape::Rect { rows, cols },
            None,
            (decoding, trace.start()),
            (started, trace),
        )
        .await
    }

    /// Prepares the task (`prepare`), runs it on the workspace's matrices and serializes the
    /// answer (with the whole result for a posted `Rect` shape). `generation` is how long
    /// generating (or decoding) took, and `since` where the trace's computation begins.
    async fn compute_and_answer(
        &self,
        mut work: E::Workspace,
        (prepare, workers): (impl FnOnce(&mut E::Workspace) -> Task, usize),
        shape: Shape,
        seed: Option<u64>,
        (generation, since): (Duration, Option<Since>),
        (started, trace): (Instant, Trace<'_>),
    ) -> Result<Vec<u8>, ApiError> {
        let computing = Instant::now();
        let prepared = prepare(&mut work);
        let shapes = prepared.shapes;
        let task = prepared.work;
        let computed = self.engine.compute(&mut work, workers, prepared, trace).await;
        let computed_at = match E::RUNS_ON {
            RunsOn::BlockingThread => trace.here(Phase::Compute, since),
            // It awaited, so other requests' events came between: it goes on the request's lane.
            RunsOn::EventLoop => trace.on_lane_until_now(Phase::Compute, since),
        };
        let execution = computing.elapsed();
        let computed = computed?;
        let (rows, cols) = shapes.out;
        let values = work.result();
        let result = matches!(shape, Shape::Rect { .. })
            .then(|| Rows(ArrayView2::from_shape((rows, cols), values).expect("the workspace holds rows * cols")));
        let answer = Answer {
            status: "ok",
            method: self.endpoint.method,
            shape,
            workers,
            work: task.name(),
            wait_ms: task.wait_ms(),
            seed,
            execution_time_sec: execution.as_secs_f64(),
            generation_time_sec: generation.as_secs_f64(),
            total_time_sec: started.elapsed().as_secs_f64(),
            sample: sample(values, cols),
            checksum: computed.checksum.unwrap_or_else(|| checksum(values)),
            child_pids: computed.child_pids.as_deref(),
            result,
        };
        let json = serde_json::to_vec(&answer).expect("an answer of numbers and strings always serializes");
        trace.here(Phase::Serialise, computed_at);
        Ok(json)
    }
}

/// Registers `/`, `/healthz` and the engine's endpoint, and JSON answers for anything else.
pub fn routes<E: Engine>(service: Data<Service<E>>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let path = service.endpoint.path();
        cfg.app_data(service)
            .route("/", web::get().to(index::<E>))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics::<E>))
            .route("/debug/trace", web::get().to(debug_trace::<E>))
            .service(
                web::resource(path)
                    .route(web::get().to(get_work::<E>))
                    .route(web::post().to(post_work::<E>))
                    .default_service(web::to(method_not_allowed)),
            )
            .default_service(web::to(not_found::<E>));
    }
}

async fn index<E: Engine>(request: HttpRequest, service: Data<Service<E>>) -> HttpResponse {
    // The page's curl example names this server by the address the visitor used.
    let origin = crate::endpoint::origin(request.connection_info().host());
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(service.index_page.replace("{{ORIGIN}}", &origin))
}

async fn metrics<E: Engine>(service: Data<Service<E>>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(crate::metrics::CONTENT_TYPE)
        .body(service.metrics.encode())
}

/// `GET /debug/trace?ms=N`: records every request for N ms, then answers the trace.
async fn debug_trace<E: Engine>(request: HttpRequest, service: Data<Service<E>>) -> Result<HttpResponse, ApiError> {
    let ms = trace_window(request.query_string())?;
    service.tracer.start()?;
    actix_web::rt::time::sleep(std::time::Duration::from_millis(ms)).await;
    let process = service.endpoint.path().trim_start_matches('/').to_owned();
    Ok(HttpResponse::Ok().json(service.tracer.finish(&process, ms)))
}

/// The `ms` of a trace's query, or why it is not one.
fn trace_window(query: &str) -> Result<u64, ApiError> {
    let (lo, hi) = (crate::trace::TRACE_MS.start(), crate::trace::TRACE_MS.end());
    let wanted = form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "ms")
        .map(|(_, value)| value.into_owned());
    match wanted.as_deref().map(str::parse::<u64>) {
        Some(Ok(ms)) if crate::trace::TRACE_MS.contains(&ms) => Ok(ms),
        Some(_) => Err(ApiError::TraceWindow(format!(
            "ms={} is not a whole number of milliseconds from {lo} to {hi}",
            wanted.unwrap_or_default()
        ))),
        None => Err(ApiError::TraceWindow(format!(
            "GET /debug/trace needs ms, the milliseconds to record, from {lo} to {hi} (e.g. /debug/trace?ms=1000)"
        ))),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn get_work<E: Engine>(request: HttpRequest, service: Data<Service<E>>) -> Result<HttpResponse, ApiError> {
    let traced = service.tracer.begin();
    let answer = get_answer(request, service.clone(), traced).await;
    service.tracer.end(traced);
    answer
}

async fn get_answer<E: Engine>(
    request: HttpRequest,
    service: Data<Service<E>>,
    traced: Option<RequestId>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let params = parse_query(request.query_string(), &service.limits)?;
    let admitting = service.tracer.request(traced).now();
    // One deadline for both waits, so a GET waits --queue-timeout at most in all.
    let deadline = tokio::time::Instant::now() + service.body_rules.queue_timeout;
    let elements = Shapes::square(params.work, params.n).elements() as u64;
    let charge = service
        .budget
        .charge(MemoryBudget::exact_need(0, elements), deadline)
        .await?;
    let waiting = service.metrics.waiting();
    let permit = service
        .admission
        .admit_by(band_count(params.n, params.workers), params.work.waits(), deadline)
        .await?;
    drop(waiting);
    let trace = service.tracer.request(traced);
    trace.on_lane(Phase::Admission, admitting);
    let handed = trace.now();
    let work = params.work.name();
    let json = match E::RUNS_ON {
        RunsOn::EventLoop => {
            let json = service.answer_generated(params, started, trace).await;
            drop(permit);
            json?
        }
        RunsOn::BlockingThread => {
            let service = service.into_inner();
            blocking(move || {
                let _permit = permit; // held until the workers are gone
                let trace = service.tracer.request(traced);
                trace.on_lane(Phase::BlockingPool, handed);
                ready_now(service.answer_generated(params, started, trace))
            })
            .await?
        }
    };
    Ok(with_work(json_response(json, charge), work))
}

fn with_work(mut response: HttpResponse, work: &'static str) -> HttpResponse {
    response.extensions_mut().insert(WorkLabel(work));
    response
}

async fn post_work<E: Engine>(
    request: HttpRequest,
    payload: web::Payload,
    service: Data<Service<E>>,
) -> Result<HttpResponse, ApiError> {
    let traced = service.tracer.begin();
    let answer = post_answer(request, payload, service.clone(), traced).await;
    service.tracer.end(traced);
    answer
}

async fn post_answer<E: Engine>(
    request: HttpRequest,
    payload: web::Payload,
    service: Data<Service<E>>,
    traced: Option<RequestId>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let upload = Upload {
        rules: service.body_rules,
        budget: &service.budget,
        pool: service.engine.body_buffers(),
        limits: service.limits,
        deadline: tokio::time::Instant::now() + service.body_rules.timeout,
    };
    if !request.query_string().is_empty() {
        // The payload is dropped unread: actix lingers, so the client still hears this answer.
        return Err(ApiError::QueryOnPost {
            path: service.endpoint.path(),
            query: request.query_string().to_owned(),
        });
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let parsing = service.tracer.request(traced).now();
    let Received { body, charge, decoding } = upload.receive(declared, payload).await?;
    service.tracer.request(traced).on_lane(Phase::Parse, parsing);
    let admitting = service.tracer.request(traced).now();
    let workers = body.workers.unwrap_or(service.limits.default_workers);
    let waits = body.work.waits();
    let waiting = service.metrics.waiting();
    let permit = service
        .admission
        .admit(band_count(body.a.nrows(), workers), waits)
        .await?;
    drop(waiting);
    let trace = service.tracer.request(traced);
    trace.on_lane(Phase::Admission, admitting);
    let handed = trace.now();
    let work = body.work.name();
    let json = match E::RUNS_ON {
        // On the loop, like everything a task does: the model's cost, shown rather than hidden.
        RunsOn::EventLoop => {
            let json = service.answer_posted(body, decoding, (started, trace)).await;
            drop(permit);
            json?
        }
        RunsOn::BlockingThread => {
            let service = service.into_inner();
            // A posted answer can be tens of megabytes of JSON: made at a lower priority, like
            // the body's parsing, so that it does not delay the answers to other connections.
            in_background(move || {
                let _permit = permit;
                let trace = service.tracer.request(traced);
                trace.on_lane(Phase::BackgroundThread, handed);
                ready_now(service.answer_posted(body, decoding, (started, trace)))
            })
            .await?
        }
    };
    Ok(with_work(json_response(json, charge), work))
}

async fn method_not_allowed(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        allow: "GET, POST",
    })
}

async fn not_found<E: Engine>(request: HttpRequest, service: Data<Service<E>>) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        method: request.method().to_string(),
        path: request.path().to_owned(),
        routes: format!(
            "GET /, GET /healthz, GET /metrics, GET /debug/trace?ms=N, GET and POST {}",
            service.endpoint.path()
        ),
    })
}

/// The answer of a request whose engine runs on a blocking thread: its future does all its work
/// in its first poll (see [`RunsOn::BlockingThread`]).
fn ready_now<T>(answer: impl std::future::Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
    futures_util::FutureExt::now_or_never(answer)
        .unwrap_or_else(|| Err(ApiError::Internal("a blocking engine's computation awaited".into())))
}

/// Runs `work` on the blocking pool; a panic there becomes a 500, never a dropped connection.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(work).await.map_err(|e| ApiError::Internal(e.to_string()))?
}

/// Runs `work` on a thread of lower priority ([`spawn_background`]); a panic there is a 500.
async fn in_background<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    spawn_background("posted-answer", work)
        .finish()
        .await
        .map_err(ApiError::Internal)?
}

/// The answer, holding the request's memory charge until it has been written.
fn json_response(json: Vec<u8>, charge: Charge) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(ChargedBody::new(json.into(), charge))
}

/// A parsed matrix's elements, row-major, in the buffer they were parsed into.
fn into_elements(matrix: crate::Matrix) -> Vec<i64> {
    let (elements, offset) = matrix.into_raw_vec_and_offset();
    debug_assert!(offset.unwrap_or(0) == 0, "a parsed matrix starts at its buffer's start");
    elements
}
