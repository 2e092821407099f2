//! What travels between stages: decoded [`FlowBatch`]es, and at the edges of the per-flow path,
//! [`RawBatch`]es (bytes a source read, decoded by a worker) and [`EncodedBatch`]es (bytes a
//! worker encoded for a sink).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::ack::{Ack, AckStatus};
use super::metrics::StageMetrics;
use crate::flow::Flow;

/// A batch of flows with the acknowledgement of where it came from.
///
/// The flows are shared between the copies that fan-out makes and copied only when a branch
/// edits them ([`FlowBatch::flows_mut`], [`FlowBatch::retain_mut`]): a branch that only reads
/// (a sink, a filter that keeps everything) never copies.
#[derive(Default)]
pub struct FlowBatch {
    flows: Arc<Vec<Flow>>,
    ack: Ack,
}

impl FlowBatch {
    /// A batch nobody waits an acknowledgement for (the runtime still tracks it).
    pub fn new(flows: Vec<Flow>) -> Self {
        FlowBatch {
            flows: Arc::new(flows),
            ack: Ack::none(),
        }
    }

    /// A batch whose acknowledgement calls back its source.
    pub fn with_ack(flows: Vec<Flow>, ack: Ack) -> Self {
        FlowBatch {
            flows: Arc::new(flows),
            ack,
        }
    }

    /// The flows.
    pub fn flows(&self) -> &[Flow] {
        &self.flows
    }

    /// The flows, to edit; copied first when another branch shares them.
    pub fn flows_mut(&mut self) -> &mut Vec<Flow> {
        Arc::make_mut(&mut self.flows)
    }

    /// Keeps the flows for which `f` returns `true`, letting `f` edit them. When the flows are
    /// shared with another branch, only the kept ones are copied.
    pub fn retain_mut(&mut self, mut f: impl FnMut(&mut Flow) -> bool) {
        if let Some(v) = Arc::get_mut(&mut self.flows) {
            v.retain_mut(f);
            return;
        }
        let kept: Vec<Flow> = self
            .flows
            .iter()
            .filter_map(|flow| {
                let mut flow = flow.clone();
                f(&mut flow).then_some(flow)
            })
            .collect();
        self.flows = Arc::new(kept);
    }

    /// Number of flows.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether the batch has no flows.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The acknowledgement.
    pub fn ack(&self) -> &Ack {
        &self.ack
    }

    /// Replaces the acknowledgement, returning the old one.
    pub fn replace_ack(&mut self, ack: Ack) -> Ack {
        std::mem::replace(&mut self.ack, ack)
    }

    /// The acknowledgement, dropping the flows (without copying shared ones).
    pub fn into_ack(self) -> Ack {
        self.ack
    }

    /// Resolves the batch's acknowledgement, dropping the flows.
    pub fn resolve(self, status: AckStatus) {
        self.ack.resolve(status);
    }

    /// The flows (copied if shared) and the acknowledgement, for a stage that takes the flows
    /// over: it resolves the acknowledgement itself.
    pub fn into_parts(self) -> (Vec<Flow>, Ack) {
        let flows = Arc::try_unwrap(self.flows).unwrap_or_else(|shared| (*shared).clone());
        (flows, self.ack)
    }

    /// Splits the batch into `n` parts by `shard(flow) % n`; each non-empty part carries a copy of
    /// the acknowledgement (the source hears back once every part is resolved).
    pub fn split_by(self, n: usize, shard: &dyn Fn(&Flow) -> u64) -> Vec<Option<FlowBatch>> {
        let n = n.max(1);
        let (flows, ack) = self.into_parts();
        let mut parts: Vec<Vec<Flow>> = (0..n).map(|_| Vec::new()).collect();
        for f in flows {
            let i = (shard(&f) % n as u64) as usize;
            parts[i].push(f);
        }
        let out = parts
            .into_iter()
            .map(|p| (!p.is_empty()).then(|| FlowBatch::with_ack(p, ack.clone())))
            .collect();
        // Every part holds its own copy: this one is not needed (an empty batch is delivered).
        ack.deliver();
        out
    }
}

impl Clone for FlowBatch {
    /// A copy for another branch: shares the flows, and the acknowledgement waits for it too.
    fn clone(&self) -> Self {
        FlowBatch {
            flows: self.flows.clone(),
            ack: self.ack.clone(),
        }
    }
}

impl fmt::Debug for FlowBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowBatch")
            .field("flows", &self.flows.len())
            .field("ack", &self.ack)
            .finish()
    }
}

/// Turns the bytes a source read into flows. Runs on the pipeline's workers, so a source does
/// no more than read.
pub trait Decode: Send + Sync + 'static {
    /// Decodes `data`, which starts at byte `offset` of the source's input, appending the flows to
    /// `out`. A malformed record is counted and logged (through the stage's
    /// [`StageMetrics::reject`]) and skipped; the others go through. Returns how many records were
    /// rejected.
    fn decode(&self, data: &[u8], offset: u64, out: &mut Vec<Flow>) -> usize;
}

/// What the runtime learns of a tracked raw batch once it is decoded.
#[derive(Debug)]
pub(crate) struct DecodeCount {
    /// Flows decoded; `u64::MAX` until then.
    pub(crate) flows: AtomicU64,
    /// Records rejected.
    pub(crate) rejected: AtomicU64,
}

impl Default for DecodeCount {
    fn default() -> Self {
        DecodeCount {
            flows: AtomicU64::new(u64::MAX),
            rejected: AtomicU64::new(0),
        }
    }
}

/// Bytes a source read, to be decoded on a worker.
pub struct RawBatch {
    /// The bytes are `data[..len]`; the rest is spare room of a recycled buffer.
    data: Vec<u8>,
    len: usize,
    offset: u64,
    decoder: Arc<dyn Decode>,
    pub(crate) ack: Ack,
    pub(crate) source: Option<StageMetrics>,
    /// Set by the runtime when it tracks the batch: what it decoded to.
    pub(crate) decoded: Option<Arc<DecodeCount>>,
    recycle: Option<Recycle>,
}

/// Takes a raw batch's buffer back once it is decoded (a source's buffer pool).
pub type Recycle = Arc<dyn Fn(Vec<u8>) + Send + Sync>;

impl RawBatch {
    /// Bytes starting at byte `offset` of the input, decoded by `decoder`.
    pub fn new(data: Vec<u8>, offset: u64, decoder: Arc<dyn Decode>) -> Self {
        let len = data.len();
        Self::from_buffer(data, len, offset, decoder)
    }

    /// The first `len` bytes of `buffer` (a reused buffer whose remaining bytes are spare room:
    /// with [`Self::with_recycle`], the whole buffer comes back, ready to read into again).
    pub fn from_buffer(buffer: Vec<u8>, len: usize, offset: u64, decoder: Arc<dyn Decode>) -> Self {
        let len = len.min(buffer.len());
        RawBatch {
            data: buffer,
            len,
            offset,
            decoder,
            ack: Ack::none(),
            source: None,
            decoded: None,
            recycle: None,
        }
    }

    /// Hands the buffer to `recycle` once decoded, so that the source can read into it again
    /// rather than allocate (and zero) a new one.
    pub fn with_recycle(mut self, recycle: Recycle) -> Self {
        self.recycle = Some(recycle);
        self
    }

    /// Sets the acknowledgement.
    pub fn with_ack(mut self, ack: Ack) -> Self {
        self.ack = ack;
        self
    }

    /// The bytes.
    pub fn data(&self) -> &[u8] {
        &self.data[..self.len]
    }

    /// Decodes into a batch carrying the same acknowledgement.
    pub fn decode(self) -> FlowBatch {
        self.decode_counting().0
    }

    /// Decodes; also says how many records were rejected.
    pub(crate) fn decode_counting(self) -> (FlowBatch, usize) {
        let mut flows = Vec::new();
        let rejected = self
            .decoder
            .decode(&self.data[..self.len], self.offset, &mut flows);
        if let Some(m) = &self.source {
            // What a source sends decoded is counted as it is sent; raw input once decoded.
            m.ingested(flows.len());
            m.flows_out(flows.len());
        }
        if let Some(d) = &self.decoded {
            d.rejected.store(rejected as u64, Ordering::Relaxed);
            d.flows.store(flows.len() as u64, Ordering::Release);
        }
        if let Some(r) = self.recycle {
            r(self.data);
        }
        (FlowBatch::with_ack(flows, self.ack), rejected)
    }
}

impl fmt::Debug for RawBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawBatch")
            .field("bytes", &self.len)
            .field("offset", &self.offset)
            .finish()
    }
}

/// Turns flows into the bytes a sink writes. A sink built with an encoder receives
/// [`EncodedBatch`]es encoded on the pipeline's workers.
pub trait Encode: Send + Sync + 'static {
    /// Appends the encoding of `flows` to `out`.
    fn encode(&self, flows: &[Flow], out: &mut Vec<u8>);
}

/// Flows encoded for a sink.
#[derive(Debug)]
pub struct EncodedBatch {
    /// The bytes.
    pub data: Vec<u8>,
    /// How many flows they hold.
    pub flows: usize,
    /// The acknowledgement of the flows.
    pub ack: Ack,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn flows(n: u64) -> Vec<Flow> {
        (0..n).map(|i| Flow::default().with_bytes(i)).collect()
    }

    #[test]
    fn copies_share_flows_until_a_branch_edits() {
        let a = FlowBatch::new(flows(4));
        let mut b = a.clone();
        assert!(std::ptr::eq(a.flows().as_ptr(), b.flows().as_ptr()));
        b.retain_mut(|f| f.bytes().is_some_and(|v| v % 2 == 0));
        assert_eq!(a.len(), 4);
        assert_eq!(b.len(), 2);
        drop(a);
        // b is alone now: editing does not copy.
        let p = b.flows().as_ptr();
        b.flows_mut()[0].set_packets(1);
        assert_eq!(b.flows().as_ptr(), p);
    }

    #[test]
    fn split_parts_each_hold_the_ack() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let batch = FlowBatch::with_ack(flows(10), Ack::new(move |st| s.lock().unwrap().push(st)));
        let parts = batch.split_by(3, &|f| f.bytes().unwrap_or(0));
        let sizes: Vec<usize> = parts
            .iter()
            .map(|p| p.as_ref().map_or(0, FlowBatch::len))
            .collect();
        assert_eq!(sizes, [4, 3, 3]);
        let mut parts: Vec<FlowBatch> = parts.into_iter().flatten().collect();
        parts.pop().unwrap().resolve(AckStatus::Delivered);
        parts.pop().unwrap().resolve(AckStatus::Delivered);
        assert!(seen.lock().unwrap().is_empty());
        drop(parts);
        assert_eq!(*seen.lock().unwrap(), [AckStatus::Errored]);
    }
}
