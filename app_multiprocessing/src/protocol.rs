//! The messages between the pool and its workers, and between the server and its fork server,
//! native-endian. The pool's are fixed-size, far below `PIPE_BUF` (4096 bytes), so each
//! `write(2)` of one is atomic and a reader never sees half of one from a healthy worker. The
//! fork server's go over a `SOCK_SEQPACKET` socket, which keeps every message whole. The bulk
//! data never crosses a pipe or socket: a message names spans of the shared memory.

use matrix_service::Kernel;

/// One band's work, as a message names it: wait `wait_us` microseconds (an io band's share),
/// then run `kernel` on the `a_len` elements at offset `a` and the `b_len` at `b`, into the
/// `out_len` at `out` (offsets in elements, from the start of the shared memory). For a
/// product, `a` holds the band's rows of A and `b` all of B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BandSpec {
    pub kernel: Kernel,
    pub a: u64,
    pub a_len: u64,
    pub b: u64,
    pub b_len: u64,
    pub out: u64,
    pub out_len: u64,
    pub wait_us: u64,
}

/// "Do this band": [`BandSpec`], to a pool worker, which writes the result into the shared
/// memory at `out`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Unique per pool, echoed in [`Done`], so a message about an older job is recognized.
    pub id: u64,
    pub band: BandSpec,
}

/// "Job `id` is finished, with this status; the band's results sum to `checksum` (wrapping)",
/// and when the worker ran it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    pub id: u64,
    pub status: Status,
    pub checksum: i64,
    pub ran: BandTimes,
}

/// When a band ran, on `CLOCK_MONOTONIC` in microseconds, and the CPU it took on the clock of
/// the process (a forked child: its whole life so far) or thread (a pool worker: the band
/// alone) that ran it. A forked child writes it after its band's rows, on the same pipe; a
/// pool worker puts it in its [`Done`]. The server turns it into trace events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BandTimes {
    /// The band's start: after a forked child has made itself ready (its descriptors closed),
    /// or when a pool worker read the job.
    pub started_us: u64,
    /// After the band's last row was written.
    pub ended_us: u64,
    pub cpu_us: u64,
}

impl BandTimes {
    pub const BYTES: usize = 3 * 8;

    pub fn encode(&self) -> [u8; Self::BYTES] {
        words([self.started_us, self.ended_us, self.cpu_us])
    }

    pub fn decode(bytes: &[u8; Self::BYTES]) -> Self {
        let [started_us, ended_us, cpu_us] = unwords(bytes);
        Self {
            started_us,
            ended_us,
            cpu_us,
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Every sum fits an `i64`.
    Ok,
    /// Some sum overflowed (the stored values wrapped).
    Overflow,
    /// The job named memory outside the region, or an output overlapping an input.
    BadJob,
    /// A status this build does not know: a corrupt message.
    Unknown(u64),
}

impl Job {
    pub const BYTES: usize = 8 + BandSpec::BYTES;

    pub fn encode(&self) -> [u8; Self::BYTES] {
        let mut bytes = [0; Self::BYTES];
        bytes[..8].copy_from_slice(&self.id.to_ne_bytes());
        bytes[8..].copy_from_slice(&self.band.encode());
        bytes
    }

    /// `None` for a message no healthy server sends (an unknown kernel).
    pub fn decode(bytes: &[u8; Self::BYTES]) -> Option<Self> {
        let id = u64::from_ne_bytes(bytes[..8].try_into().expect("8 bytes"));
        let band = BandSpec::decode(bytes[8..].try_into().expect("a band's bytes"))?;
        Some(Self { id, band })
    }
}

impl Done {
    pub const BYTES: usize = 3 * 8 + BandTimes::BYTES;

    pub fn encode(&self) -> [u8; Self::BYTES] {
        let status = match self.status {
            Status::Ok => 0,
            Status::Overflow => 1,
            Status::BadJob => 2,
            Status::Unknown(code) => code,
        };
        let ran = self.ran;
        words([
            self.id,
            status,
            self.checksum as u64,
            ran.started_us,
            ran.ended_us,
            ran.cpu_us,
        ])
    }

    pub fn decode(bytes: &[u8; Self::BYTES]) -> Self {
        let [id, status, checksum, started_us, ended_us, cpu_us] = unwords(bytes);
        let status = match status {
            0 => Status::Ok,
            1 => Status::Overflow,
            2 => Status::BadJob,
            code => Status::Unknown(code),
        };
        Self {
            id,
            status,
            checksum: checksum as i64,
            ran: BandTimes {
                started_us,
                ended_us,
                cpu_us,
            },
        }
    }
}

/// The fork server's answer for one band. It forks the bands of a message in order and stops
/// at the first refusal, so an answer holds one of these per band it tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The child's pid: a child of the server.
    Child(i32),
    /// fork failed with this errno (EAGAIN, ENOMEM), or the request was malformed (EINVAL).
    Refused(i32),
}

/// Kernels on the wire.
const SUM: u64 = 0;
const PRODUCT_F64: u64 = 1;
const PRODUCT_I128: u64 = 2;

impl BandSpec {
    pub const BYTES: usize = 10 * 8;

    /// The most bands one message to the fork server carries (a request's bands go in one
    /// message, the write ends of their pipes attached in the same order, SCM_RIGHTS): far
    /// below the kernel's limit of 253 descriptors per message (SCM_MAX_FD). A request with
    /// more bands sends several.
    pub const MAX_BATCH: usize = 64;

    pub fn encode(&self) -> [u8; Self::BYTES] {
        let (code, inner, cols) = match self.kernel {
            Kernel::Sum => (SUM, 0, 0),
            Kernel::Product { inner, cols, in_f64 } => {
                let code = if in_f64 { PRODUCT_F64 } else { PRODUCT_I128 };
                (code, inner as u64, cols as u64)
            }
        };
        words([
            code,
            inner,
            cols,
            self.a,
            self.a_len,
            self.b,
            self.b_len,
            self.out,
            self.out_len,
            self.wait_us,
        ])
    }

    /// `None` for an unknown kernel.
    pub fn decode(bytes: &[u8; Self::BYTES]) -> Option<Self> {
        let [code, inner, cols, a, a_len, b, b_len, out, out_len, wait_us] = unwords(bytes);
        let (inner, cols) = (usize::try_from(inner).ok()?, usize::try_from(cols).ok()?);
        let kernel = match code {
            SUM => Kernel::Sum,
            PRODUCT_F64 | PRODUCT_I128 => Kernel::Product {
                inner,
                cols,
                in_f64: code == PRODUCT_F64,
            },
            _ => return None,
        };
        Some(Self {
            kernel,
            a,
            a_len,
            b,
            b_len,
            out,
            out_len,
            wait_us,
        })
    }

    pub fn encode_batch(bands: &[Self]) -> Vec<u8> {
        bands.iter().flat_map(|band| band.encode()).collect()
    }

    /// `None` unless the bytes are 1 to [`MAX_BATCH`](Self::MAX_BATCH) whole, known bands.
    pub fn decode_batch(bytes: &[u8]) -> Option<Vec<Self>> {
        let count = bytes.len() / Self::BYTES;
        if !bytes.len().is_multiple_of(Self::BYTES) || !(1..=Self::MAX_BATCH).contains(&count) {
            return None;
        }
        (bytes.chunks_exact(Self::BYTES))
            .map(|band| Self::decode(band.try_into().expect("exact chunks")))
            .collect()
    }
}

impl Forked {
    pub const BYTES: usize = 8;

    /// A pid as itself, an errno negated.
    pub fn encode(&self) -> [u8; Self::BYTES] {
        let value = match *self {
            Self::Child(pid) => i64::from(pid),
            Self::Refused(errno) => -i64::from(errno),
        };
        words([value as u64])
    }

    /// Answers one after another.
    pub fn encode_batch(answers: &[Self]) -> Vec<u8> {
        answers.iter().flat_map(|answer| answer.encode()).collect()
    }

    /// `None` unless `bytes` is whole, valid answers.
    pub fn decode_batch(bytes: &[u8]) -> Option<Vec<Self>> {
        if !bytes.len().is_multiple_of(Self::BYTES) {
            return None;
        }
        let answers = bytes.chunks_exact(Self::BYTES);
        answers
            .map(|answer| Self::decode(answer.try_into().expect("exact chunks")))
            .collect()
    }

    /// `None` for a value that is neither (a corrupt message).
    pub fn decode(bytes: &[u8; Self::BYTES]) -> Option<Self> {
        let [value] = unwords(bytes);
        let value = i32::try_from(value as i64).ok()?;
        match value {
            0 | i32::MIN => None,
            pid if pid > 0 => Some(Self::Child(pid)),
            errno => Some(Self::Refused(-errno)),
        }
    }
}

// Each message goes out in one write(2), which a pipe keeps whole up to PIPE_BUF bytes.
const _: () = assert!(Job::BYTES <= libc::PIPE_BUF && Done::BYTES <= libc::PIPE_BUF);

fn words<const N: usize, const B: usize>(values: [u64; N]) -> [u8; B] {
    let mut bytes = [0; B];
    for (chunk, value) in bytes.chunks_exact_mut(8).zip(values) {
        chunk.copy_from_slice(&value.to_ne_bytes());
    }
    bytes
}

fn unwords<const N: usize, const B: usize>(bytes: &[u8; B]) -> [u64; N] {
    let mut values = [0; N];
    for (value, chunk) in values.iter_mut().zip(bytes.chunks_exact(8)) {
        *value = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8"));
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    fn band(i: u64, kernel: Kernel) -> BandSpec {
        BandSpec {
            kernel,
            a: i,
            a_len: 6,
            b: u64::MAX - i,
            b_len: 2,
            out: 3,
            out_len: 1 << 40,
            wait_us: 25_000,
        }
    }

    const KERNELS: [Kernel; 3] = [
        Kernel::Sum,
        Kernel::Product {
            inner: 3,
            cols: 500,
            in_f64: true,
        },
        Kernel::Product {
            inner: 2000,
            cols: 1,
            in_f64: false,
        },
    ];

    #[test]
    fn messages_survive_encoding() {
        for kernel in KERNELS {
            let job = Job {
                id: u64::MAX,
                band: band(1, kernel),
            };
            assert_eq!(Job::decode(&job.encode()), Some(job));
        }
        for status in [Status::Ok, Status::Overflow, Status::BadJob, Status::Unknown(77)] {
            let done = Done {
                id: 9,
                status,
                checksum: i64::MIN,
                ran: BandTimes {
                    started_us: 1,
                    ended_us: u64::MAX,
                    cpu_us: 7,
                },
            };
            assert_eq!(Done::decode(&done.encode()), done);
        }
        for forked in [Forked::Child(1), Forked::Child(i32::MAX), Forked::Refused(libc::EAGAIN)] {
            assert_eq!(Forked::decode(&forked.encode()), Some(forked));
        }
        for corrupt in [0i64, i64::MAX, i64::MIN, -(1 << 40)] {
            assert_eq!(Forked::decode(&(corrupt as u64).to_ne_bytes()), None, "{corrupt}");
        }
        let answers = [Forked::Child(5), Forked::Refused(libc::EAGAIN)];
        assert_eq!(
            Forked::decode_batch(&Forked::encode_batch(&answers)),
            Some(answers.to_vec())
        );
        assert_eq!(Forked::decode_batch(&[0; 12]), None);
    }

    #[test]
    fn a_batch_holds_one_to_64_known_bands() {
        let bands: Vec<BandSpec> = (0..BandSpec::MAX_BATCH as u64)
            .map(|i| band(i, KERNELS[i as usize % 3]))
            .collect();
        assert_eq!(
            BandSpec::decode_batch(&BandSpec::encode_batch(&bands)),
            Some(bands.clone())
        );
        let too_many = [bands.clone(), bands[..1].to_vec()].concat();
        let mut unknown_kernel = BandSpec::encode_batch(&bands[..1]);
        unknown_kernel[0] = 3;
        for bad in [
            &[][..],
            &BandSpec::encode_batch(&too_many),
            &BandSpec::encode_batch(&bands)[1..],
            &unknown_kernel,
        ] {
            assert_eq!(BandSpec::decode_batch(bad), None, "{} bytes", bad.len());
        }
    }
}
