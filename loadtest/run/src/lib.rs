//! Running trials: everything that measures.
//!
//! [`plan`] says what to run → oha is found or installed ([`oha::provision`]) → the servers are
//! built and started, or addressed ([`servers`]; the Python lab's under gunicorn,
//! [`python_lab`]) → their answers verified and their own timings probed ([`verify`]) → trials
//! run in their [`schedule`], each driving oha ([`oha::runner`]) while the server's process tree
//! is sampled ([`sampler`]) and its `/metrics` read ([`server_metrics`]) → [`trial`] records
//! what one trial measured. Beside the trials: the work's in-process cost ([`work_cost`]), a
//! thread's start ([`thread_start`]), the CPUs' speed ([`cpu_speed`]), the machine
//! ([`machine`]) and how busy it was ([`machine_cpu`]). `loadtest uploads` measures slow uploads ([`uploads`]).
//!
//! What it measures is the model's (`loadtest_model`); it draws no report.

pub mod cpu_speed;
pub mod fork_floor;
pub mod http;
pub mod interrupt;
pub mod machine;
pub mod machine_cpu;
pub mod oha;
pub mod open_files;
pub mod open_loop;
pub mod pinning;
pub mod plan;
pub mod python_lab;
pub mod sampler;
pub mod schedule;
pub mod server_metrics;
pub mod servers;
pub mod thread_start;
pub mod traces;
pub mod trial;
pub mod uploads;
pub mod verify;
pub mod work_cost;
pub mod worker_probe;
