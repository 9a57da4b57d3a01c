//! `volley.v1.MetricBatch` written by hand instead of generated: its series stay encoded, each
//! a view of the buffer the batch was decoded from, and the controller reads each in place
//! ([`SeriesReader`]) straight into its merge. Decoding every series into owned messages (a
//! string per metric, two `Bytes` and a vector slot per tag, a growing vector per trend's
//! samples) and dropping them again was about half of the controller's work per batch
//! (docs/benchmarks.md, "What each change bought"). The wire format is the generated one's:
//! `repeated Series series = 5` and `repeated bytes series = 5` are the same bytes, so agents
//! of protocol 3 are read unchanged, and every series is checked as
//! [`Series::take_sink`] checks it (the same fields named when refused).

use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};
use volley_common::metrics::store::MetricInfo;
use volley_common::metrics::{
    CounterSink, GaugeSink, RateSink, Sign, SinkDelta, SortedBuckets, TrendDelta, TREND_EXACT_LIMIT,
};

use crate::sinks::{refuse, text, value_type};
use crate::{Series, SeriesError};

/// Aggregates of one interval: per (metric, tag set), mergeable exactly.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct MetricBatch {
    pub run_id: u64,
    /// Per (agent, run), from 1, without gaps: the controller acks and de-duplicates replays.
    pub seq: u64,
    pub start_unix_ms: u64,
    pub end_unix_ms: u64,
    /// The series, encoded.
    pub series: SeriesList,
}

/// A batch's series, each an encoded `volley.v1.Series` message.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct SeriesList(Vec<Bytes>);

impl SeriesList {
    /// Each series' encoding.
    pub fn encoded(&self) -> &[Bytes] {
        &self.0
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True without series.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends a series.
    pub fn push(&mut self, series: &Series) {
        self.0.push(series.encode_to_vec().into());
    }

    /// Every series decoded as a message of its own.
    pub fn decode(&self) -> Result<Vec<Series>, DecodeError> {
        self.0.iter().map(|b| Series::decode(b.clone())).collect()
    }
}

impl From<Vec<Series>> for SeriesList {
    fn from(series: Vec<Series>) -> SeriesList {
        series.into_iter().collect()
    }
}

impl FromIterator<Series> for SeriesList {
    fn from_iter<I: IntoIterator<Item = Series>>(iter: I) -> SeriesList {
        SeriesList(iter.into_iter().map(|s| s.encode_to_vec().into()).collect())
    }
}

fn named(mut e: DecodeError, field: &'static str) -> DecodeError {
    e.push("MetricBatch", field);
    e
}

impl Message for MetricBatch {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        // By field number, as prost's generated encoders write them.
        let [run_id, rest @ ..] = self.numbers();
        for (tag, v) in rest {
            if v != 0 {
                encoding::uint64::encode(tag, &v, buf);
            }
        }
        for s in &self.series.0 {
            encoding::bytes::encode(5, s, buf);
        }
        if run_id.1 != 0 {
            encoding::uint64::encode(run_id.0, &run_id.1, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let number = |v: &mut u64, buf: &mut _, field| {
            encoding::uint64::merge(wire_type, v, buf, ctx.clone()).map_err(|e| named(e, field))
        };
        match tag {
            6 => number(&mut self.run_id, buf, "run_id"),
            2 => number(&mut self.seq, buf, "seq"),
            3 => number(&mut self.start_unix_ms, buf, "start_unix_ms"),
            4 => number(&mut self.end_unix_ms, buf, "end_unix_ms"),
            5 => {
                let mut s = Bytes::new();
                encoding::bytes::merge(wire_type, &mut s, buf, ctx.clone())
                    .map_err(|e| named(e, "series"))?;
                self.series.0.push(s);
                Ok(())
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        self.numbers()
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|(tag, v)| encoding::uint64::encoded_len(tag, &v))
            .sum::<usize>()
            + encoding::bytes::encoded_len_repeated(5, &self.series.0)
    }

    fn clear(&mut self) {
        *self = MetricBatch::default();
    }
}

impl MetricBatch {
    /// The number fields with their field numbers.
    fn numbers(&self) -> [(u32, u64); 4] {
        [
            (6, self.run_id),
            (2, self.seq),
            (3, self.start_unix_ms),
            (4, self.end_unix_ms),
        ]
    }
}

/// One series read in place: its metric, the bytes that identify it (every field but the
/// sink: the same bytes are the same metric and tags), and its aggregate.
pub struct SeriesView<'a> {
    raw: &'a [u8],
    key: &'a [u8],
    metric: &'a str,
    contains: i32,
    sink: Result<Option<SinkDelta<'a>>, SeriesError>,
}

impl<'a> SeriesView<'a> {
    /// The metric's name.
    pub fn metric(&self) -> &'a str {
        self.metric
    }

    /// The encoding of every field but the sink, in the order sent.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The tags as texts, in the order sent; refused, naming the field, when one is not UTF-8.
    pub fn tag_pairs(&self) -> Result<Vec<(&'a str, &'a str)>, SeriesError> {
        let mut out = Vec::new();
        let mut buf = self.raw;
        while !buf.is_empty() {
            let (tag, wire_type) = key(&mut buf)?;
            if tag != 4 {
                skip(&mut buf, tag, wire_type)?;
                continue;
            }
            let mut entry = delimited(&mut buf, wire_type, "tags")?;
            let (mut k, mut v): (&[u8], &[u8]) = (&[], &[]);
            while !entry.is_empty() {
                match key(&mut entry)? {
                    (1, w) => k = delimited(&mut entry, w, "tags.key")?,
                    (2, w) => v = delimited(&mut entry, w, "tags.value")?,
                    (t, w) => skip(&mut entry, t, w)?,
                }
            }
            out.push((text("tags.key", k)?, text("tags.value", v)?));
        }
        Ok(out)
    }

    /// The metric's type and value type, and its aggregate; refused, naming the field, as
    /// [`Series::take_sink`] refuses.
    pub fn sink(&self) -> Result<(MetricInfo, &SinkDelta<'a>), SeriesError> {
        let contains = value_type(self.contains)?;
        let sink = match &self.sink {
            Ok(Some(sink)) => sink,
            Ok(None) => return Err(crate::sinks::no_sink()),
            Err(e) => return Err(e.clone()),
        };
        Ok((
            MetricInfo {
                mtype: sink.metric_type(),
                contains,
            },
            sink,
        ))
    }
}

/// Reads encoded series ([`SeriesList`]) in place, its buffers reused from one to the next.
#[derive(Default)]
pub struct SeriesReader {
    values: Vec<f64>,
    counts: Vec<u64>,
    buckets: SortedBuckets,
    key: Vec<u8>,
}

/// Which sink a series holds (the oneof's field number).
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter = 10,
    Gauge = 11,
    Rate = 12,
    Trend = 13,
}

/// A sink's fields as read so far (a field sent twice: the last wins; a message field sent
/// twice is merged, as every protobuf decoder does).
#[derive(Default)]
struct Fields {
    a: f64,
    b: f64,
    c: f64,
    n: u64,
    m: u64,
    set: bool,
    zero: u64,
    histogram: bool,
}

impl SeriesReader {
    /// Reads one encoded series; refused, naming the field, when it is not a well-formed
    /// `Series` or its sink fails the checks of [`Series::take_sink`].
    pub fn read<'a>(&'a mut self, encoded: &'a [u8]) -> Result<SeriesView<'a>, SeriesError> {
        if self.counts.capacity() > 1 << 16 || self.buckets.bucket_count() > 1 << 16 {
            // What a forged series made it hold is not kept for the rest of the run.
            *self = SeriesReader::default();
        }
        self.values.clear();
        self.buckets.clear();
        self.key.clear();
        let mut buf = encoded;
        let mut metric: &[u8] = &[];
        let mut contains = 0i32;
        let mut kind: Option<Kind> = None;
        let mut f = Fields::default();
        let mut sink_err = None;
        // The identifying fields: one range of `encoded` while no sink field comes between.
        let (mut key_start, mut key_end, mut split, mut gap) = (None::<usize>, 0, false, false);
        while !buf.is_empty() {
            let start = encoded.len() - buf.len();
            let (tag, wire_type) = key(&mut buf)?;
            match tag {
                10..=13 => {
                    let k = match tag {
                        10 => Kind::Counter,
                        11 => Kind::Gauge,
                        12 => Kind::Rate,
                        _ => Kind::Trend,
                    };
                    if kind != Some(k) {
                        // Another member of the oneof replaces the one read so far.
                        kind = Some(k);
                        f = Fields::default();
                        self.values.clear();
                        self.buckets.clear();
                    }
                    let name = match k {
                        Kind::Counter => "counter",
                        Kind::Gauge => "gauge",
                        Kind::Rate => "rate",
                        Kind::Trend => "trend",
                    };
                    let body = delimited(&mut buf, wire_type, name)?;
                    if sink_err.is_none() {
                        // A damaged or impossible sink refuses the series once its metric is
                        // known (and after its value type is checked, as `take_sink` does).
                        sink_err = self.sink_fields(k, body, &mut f).err();
                    }
                    // Identifying fields after this one are not contiguous with those before.
                    gap = key_start.is_some();
                    continue;
                }
                1 => metric = delimited(&mut buf, wire_type, "metric")?,
                6 => contains = varint(&mut buf, wire_type, "contains")? as i32,
                _ => skip(&mut buf, tag, wire_type)?,
            }
            let end = encoded.len() - buf.len();
            match key_start {
                None => key_start = Some(start),
                Some(first) if gap || split => {
                    if !split {
                        self.key.extend_from_slice(&encoded[first..key_end]);
                        split = true;
                    }
                    self.key.extend_from_slice(&encoded[start..end]);
                }
                Some(_) => {}
            }
            gap = false;
            key_end = end;
        }
        let metric = std::str::from_utf8(metric)
            .map_err(|e| refuse("metric", format!("is not UTF-8: {e}")))?;
        let prepared = self.prepare(kind, &f, sink_err);
        let this: &'a SeriesReader = self;
        let key = if split {
            &this.key[..]
        } else {
            key_start.map_or(&[][..], |s| &encoded[s..key_end])
        };
        Ok(SeriesView {
            raw: encoded,
            key,
            metric,
            contains,
            sink: prepared.and_then(|()| this.sink_delta(kind, &f)),
        })
    }

    /// Checks what `read` took of a trend's sink in the order [`Series::take_sink`] checks
    /// it, and buckets its samples (or adds its histogram's zeros).
    fn prepare(
        &mut self,
        kind: Option<Kind>,
        f: &Fields,
        sink_err: Option<SeriesError>,
    ) -> Result<(), SeriesError> {
        if kind != Some(Kind::Trend) {
            return sink_err.map_or(Ok(()), Err);
        }
        finite("trend.sum", f.a)?;
        finite("trend.min", f.b)?;
        finite("trend.max", f.c)?;
        if f.histogram && !self.values.is_empty() {
            return Err(values_with_histogram());
        }
        if let Some(e) = sink_err {
            return Err(e);
        }
        if f.histogram {
            self.buckets
                .add_zeros(f.zero)
                .map_err(|e| refuse("trend.histogram", e.to_string()))
        } else {
            self.buckets.set_values(&self.values);
            Ok(())
        }
    }

    /// The sink read, checked.
    fn sink_delta(
        &self,
        kind: Option<Kind>,
        f: &Fields,
    ) -> Result<Option<SinkDelta<'_>>, SeriesError> {
        Ok(match kind {
            None => None,
            Some(Kind::Counter) => Some(SinkDelta::Counter(CounterSink {
                sum: finite("counter.sum", f.a)?,
                samples: f.n,
            })),
            Some(Kind::Gauge) => Some(SinkDelta::Gauge(GaugeSink {
                value: finite("gauge.value", f.a)?,
                min: finite("gauge.min", f.b)?,
                max: finite("gauge.max", f.c)?,
                time_ns: f.n,
                set: f.set,
            })),
            Some(Kind::Rate) => {
                if f.n > f.m {
                    return Err(refuse(
                        "rate.trues",
                        format!("{} is more than rate.total {}", f.n, f.m),
                    ));
                }
                Some(SinkDelta::Rate(RateSink {
                    trues: f.n,
                    total: f.m,
                }))
            }
            Some(Kind::Trend) => {
                let exact = (!f.histogram).then_some(&self.values[..]);
                let trend = TrendDelta::new(f.n, f.a, f.b, f.c, exact, &self.buckets)
                    .map_err(|e| refuse("trend", e.to_string()))?;
                Some(SinkDelta::Trend(trend))
            }
        })
    }

    /// Reads the fields of one occurrence of a sink message into `f` (and a trend's samples
    /// or histogram runs into the reader's buffers), checking them as they come.
    fn sink_fields(
        &mut self,
        kind: Kind,
        mut buf: &[u8],
        f: &mut Fields,
    ) -> Result<(), SeriesError> {
        while !buf.is_empty() {
            let (tag, w) = key(&mut buf)?;
            match (kind, tag) {
                (Kind::Counter, 1) => f.a = double(&mut buf, w, "counter.sum")?,
                (Kind::Counter, 2) => f.n = varint(&mut buf, w, "counter.samples")?,
                (Kind::Gauge, 1) => f.a = double(&mut buf, w, "gauge.value")?,
                (Kind::Gauge, 2) => f.b = double(&mut buf, w, "gauge.min")?,
                (Kind::Gauge, 3) => f.c = double(&mut buf, w, "gauge.max")?,
                (Kind::Gauge, 4) => f.n = varint(&mut buf, w, "gauge.time_ns")?,
                (Kind::Gauge, 5) => f.set = varint(&mut buf, w, "gauge.set")? != 0,
                (Kind::Rate, 1) => f.n = varint(&mut buf, w, "rate.trues")?,
                (Kind::Rate, 2) => f.m = varint(&mut buf, w, "rate.total")?,
                (Kind::Trend, 1) => f.n = varint(&mut buf, w, "trend.count")?,
                (Kind::Trend, 2) => f.a = double(&mut buf, w, "trend.sum")?,
                (Kind::Trend, 3) => f.b = double(&mut buf, w, "trend.min")?,
                (Kind::Trend, 4) => f.c = double(&mut buf, w, "trend.max")?,
                (Kind::Trend, 5) => self.trend_values(&mut buf, w)?,
                (Kind::Trend, 6) => {
                    f.histogram = true;
                    let body = delimited(&mut buf, w, "trend.histogram")?;
                    self.histogram(body, &mut f.zero)?;
                }
                (_, t) => skip(&mut buf, t, w)?,
            }
        }
        Ok(())
    }

    /// A trend's samples, packed or one by one: at most [`TREND_EXACT_LIMIT`], finite. Packed
    /// ones (as agents send them) are copied at once and checked after, refused as if taken
    /// one by one: the first that is not finite, or the first past the limit.
    fn trend_values(&mut self, buf: &mut &[u8], w: WireType) -> Result<(), SeriesError> {
        let not_finite = |v: f64| refuse("trend.values", format!("holds {v}, not a finite number"));
        let too_many = || {
            refuse(
                "trend.values",
                format!(
                    "holds more than {TREND_EXACT_LIMIT} samples: a larger trend travels as \
                     trend.histogram"
                ),
            )
        };
        let room = TREND_EXACT_LIMIT.saturating_sub(self.values.len());
        if w != WireType::LengthDelimited {
            let v = double(buf, w, "trend.values")?;
            if room == 0 {
                return Err(too_many());
            }
            if !v.is_finite() {
                return Err(not_finite(v));
            }
            self.values.push(v);
            return Ok(());
        }
        let packed = delimited(buf, w, "trend.values")?;
        if packed.len() % 8 != 0 {
            return Err(malformed(
                "trend.values",
                "packed doubles are not a multiple of 8 bytes",
            ));
        }
        let sent = packed.len() / 8;
        let from = self.values.len();
        self.values.extend(
            packed[..sent.min(room) * 8]
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default())),
        );
        if let Some(i) = self.values[from..].iter().position(|v| !v.is_finite()) {
            let v = self.values[from + i];
            self.values.truncate(from + i);
            return Err(not_finite(v));
        }
        if sent > room {
            return Err(too_many());
        }
        Ok(())
    }

    /// A histogram message: its runs into the buckets as they come, its zero count (the
    /// last sent wins) into `zero`.
    fn histogram(&mut self, mut buf: &[u8], zero: &mut u64) -> Result<(), SeriesError> {
        let bad = |e: volley_common::metrics::HistogramDecodeError| {
            refuse("trend.histogram", e.to_string())
        };
        while !buf.is_empty() {
            let (tag, w) = key(&mut buf)?;
            let sign = match tag {
                1 => {
                    *zero = varint(&mut buf, w, "trend.histogram.zero")?;
                    continue;
                }
                2 => Sign::Positive,
                3 => Sign::Negative,
                t => {
                    skip(&mut buf, t, w)?;
                    continue;
                }
            };
            let mut run = delimited(&mut buf, w, "trend.histogram.runs")?;
            let mut start = 0u32;
            self.counts.clear();
            while !run.is_empty() {
                match key(&mut run)? {
                    (1, w) => start = varint(&mut run, w, "trend.histogram.runs.start")? as u32,
                    (2, WireType::LengthDelimited) => {
                        let mut packed = delimited(
                            &mut run,
                            WireType::LengthDelimited,
                            "trend.histogram.runs.counts",
                        )?;
                        while !packed.is_empty() {
                            if self.counts.len() > MAX_RUN {
                                return Err(run_too_long());
                            }
                            let n = raw_varint(&mut packed).map_err(|e| {
                                malformed("trend.histogram.runs.counts", &e.to_string())
                            })?;
                            self.counts.push(n);
                        }
                    }
                    (2, w) => {
                        if self.counts.len() > MAX_RUN {
                            return Err(run_too_long());
                        }
                        let n = varint(&mut run, w, "trend.histogram.runs.counts")?;
                        self.counts.push(n);
                    }
                    (t, w) => skip(&mut run, t, w)?,
                }
            }
            self.buckets
                .push_run(sign, start, &self.counts)
                .map_err(bad)?;
        }
        Ok(())
    }
}

/// Buckets of one sign: a run with more goes past the last one (refused by
/// [`SortedBuckets::push_run`]), so the counts read are bounded before that check.
const MAX_RUN: usize = 1 << 21;

fn run_too_long() -> SeriesError {
    refuse(
        "trend.histogram",
        format!("holds a run of more than {MAX_RUN} buckets: it goes past the last bucket"),
    )
}

fn values_with_histogram() -> SeriesError {
    refuse(
        "trend.values",
        "must be empty when trend.histogram is set (a trend keeps one or the other)",
    )
}

fn malformed(field: &'static str, detail: &str) -> SeriesError {
    refuse(field, format!("is not well-formed protobuf: {detail}"))
}

fn finite(field: &'static str, v: f64) -> Result<f64, SeriesError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(refuse(field, format!("is {v}, not a finite number")))
    }
}

/// A field's number and wire type. A series' fields (numbers 1 to 15) have one-byte keys,
/// read here; longer keys, and any error, are left to prost.
#[inline(always)]
fn key(buf: &mut &[u8]) -> Result<(u32, WireType), SeriesError> {
    if let Some((&b, rest)) = buf.split_first() {
        let wire_type = match b & 7 {
            0 => Some(WireType::Varint),
            1 => Some(WireType::SixtyFourBit),
            2 => Some(WireType::LengthDelimited),
            5 => Some(WireType::ThirtyTwoBit),
            _ => None,
        };
        if let (true, Some(w)) = ((8..0x80).contains(&b), wire_type) {
            *buf = rest;
            return Ok((u32::from(b >> 3), w));
        }
    }
    encoding::decode_key(buf).map_err(|e| malformed("series", &e.to_string()))
}

/// A varint whose first byte ends it (most lengths and counts of a series) read here; longer
/// ones, and any error, by prost.
#[inline(always)]
fn raw_varint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    match buf.split_first() {
        Some((&b, rest)) if b < 0x80 => {
            *buf = rest;
            Ok(u64::from(b))
        }
        _ => encoding::decode_varint(buf),
    }
}

/// Skips a field this reader does not know (as decoders of an older schema do). A tag, the
/// field a series' reader passes most often, is skipped here; anything else, and any error,
/// by prost.
#[inline(always)]
fn skip(buf: &mut &[u8], tag: u32, w: WireType) -> Result<(), SeriesError> {
    if w == WireType::LengthDelimited {
        let mut rest = *buf;
        if let Ok(len) = raw_varint(&mut rest) {
            if len <= rest.len() as u64 {
                *buf = &rest[len as usize..];
                return Ok(());
            }
        }
    }
    encoding::skip_field(w, tag, buf, DecodeContext::default())
        .map_err(|e| malformed("series", &e.to_string()))
}

#[inline(always)]
fn delimited<'a>(
    buf: &mut &'a [u8],
    w: WireType,
    field: &'static str,
) -> Result<&'a [u8], SeriesError> {
    if w != WireType::LengthDelimited {
        return Err(malformed(field, "wrong wire type"));
    }
    let len = raw_varint(buf).map_err(|e| malformed(field, &e.to_string()))?;
    if len > buf.len() as u64 {
        return Err(malformed(
            field,
            "its length runs past the end of the message",
        ));
    }
    let (body, rest) = buf.split_at(len as usize);
    *buf = rest;
    Ok(body)
}

#[inline(always)]
fn varint(buf: &mut &[u8], w: WireType, field: &'static str) -> Result<u64, SeriesError> {
    if w != WireType::Varint {
        return Err(malformed(field, "wrong wire type"));
    }
    raw_varint(buf).map_err(|e| malformed(field, &e.to_string()))
}

fn double(buf: &mut &[u8], w: WireType, field: &'static str) -> Result<f64, SeriesError> {
    if w != WireType::SixtyFourBit {
        return Err(malformed(field, "wrong wire type"));
    }
    if buf.len() < 8 {
        return Err(malformed(field, "the message ends inside it"));
    }
    let (b, rest) = buf.split_at(8);
    *buf = rest;
    Ok(f64::from_le_bytes(b.try_into().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use prost::encoding::{encode_key, encode_varint};
    use volley_common::metrics::{MetricType, Sink, ValueType};

    use super::*;
    use crate::sinks::tests::{hist, impossible_sinks, run, trend_wire};
    use crate::test_rng::Rng;
    use crate::v1;
    use crate::v1::series::Sink as Wire;

    /// The batch as prost generates it from `proto/volley.proto`.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(uint64, tag = "6")]
        run_id: u64,
        #[prost(uint64, tag = "2")]
        seq: u64,
        #[prost(uint64, tag = "3")]
        start_unix_ms: u64,
        #[prost(uint64, tag = "4")]
        end_unix_ms: u64,
        #[prost(message, repeated, tag = "5")]
        series: Vec<Series>,
    }

    /// A sample: zeros, negatives, huge magnitudes and latency-like values.
    fn value(rng: &mut Rng) -> f64 {
        let unit = rng.unit();
        match rng.next_u64() % 6 {
            0 => 0.0,
            1 => -unit * 1e3,
            2 => unit * 1e300,
            _ => (unit * 12.0).exp(),
        }
    }

    fn random_series(rng: &mut Rng, case: u64) -> Series {
        let ty = MetricType::ALL[(case % 4) as usize];
        let n = [0, 1, 20, 1024, 1025, 5000][(case / 4 % 6) as usize];
        let mut sink = Sink::new(ty);
        for _ in 0..n {
            sink.add(value(rng), rng.next_u64() % 1000);
        }
        let tags: Vec<(String, String)> = (0..rng.next_u64() % 5)
            .map(|i| (format!("k{}", rng.next_u64() % 4), format!("v{i}é")))
            .collect();
        Series::from_sink(format!("metric_{}", case % 7), ValueType::Time, tags, sink)
    }

    /// What the generated decoder and `take_sink` make of `bytes`, and what the reader
    /// makes of them: the same sink and tags, or a refusal naming the same field.
    fn check_reads_alike(bytes: &[u8], what: &str) {
        let want = Series::decode(bytes).map(|mut s| {
            let tags = s.tag_pairs().map(|t| {
                t.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            });
            (s.metric.clone(), tags, s.take_sink())
        });
        let mut reader = SeriesReader::default();
        let got = reader.read(bytes);
        let Ok((metric, want_tags, want_sink)) = want else {
            let refused = got.and_then(|v| v.sink().map(drop));
            assert!(refused.is_err(), "{what}: a malformed series is refused");
            return;
        };
        let view = got.unwrap_or_else(|e| panic!("{what}: refused: {e}"));
        assert_eq!(view.metric(), metric, "{what}");
        let got_tags: Result<Vec<(String, String)>, _> = view.tag_pairs().map(|t| {
            t.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        });
        assert_eq!(
            got_tags.map_err(|e| e.field),
            want_tags.map_err(|e: SeriesError| e.field),
            "{what}"
        );
        match (view.sink(), want_sink) {
            (Ok((info, sink)), Ok((want_info, want))) => {
                assert_eq!(info, want_info, "{what}");
                assert_eq!(sink.to_sink(), want, "{what}");
            }
            (Err(e), Err(w)) => assert_eq!(e.field, w.field, "{what}: {e} / {w}"),
            (got, want) => panic!(
                "{what}: read {:?}, decoded {want:?}",
                got.map(|(_, s)| s.to_sink())
            ),
        }
    }

    /// Every series, of every kind and size, and every impossible one, reads in place as the
    /// generated decoder and `Series::take_sink` read it.
    #[test]
    fn series_read_in_place_as_decoded() {
        let mut rng = Rng::new(5);
        for case in 0..240 {
            let s = random_series(&mut rng, case);
            check_reads_alike(&s.encode_to_vec(), &format!("case {case}"));
        }
        // The sinks the wire's checks refuse, and one more of a trend.
        let mut bad: Vec<Wire> = impossible_sinks().into_iter().map(|(w, _, _)| w).collect();
        bad.push(trend_wire(3, vec![], hist(vec![run(10, &[1, 0, 2])])));
        for (i, wire) in bad.into_iter().enumerate() {
            for contains in [0, 2, 9] {
                let s = Series {
                    metric: "m".into(),
                    contains,
                    tags: vec![v1::Tag::new("a", "b")],
                    sink: Some(wire.clone()),
                };
                check_reads_alike(&s.encode_to_vec(), &format!("bad {i} contains {contains}"));
            }
        }
        let mut bad_tag = Series::from_sink(
            "m".into(),
            ValueType::Default,
            [("a", "b")],
            Sink::new(MetricType::Counter),
        );
        check_reads_alike(&bad_tag.encode_to_vec(), "a good tag");
        bad_tag.tags[0].value = (&b"\xff"[..]).into();
        check_reads_alike(&bad_tag.encode_to_vec(), "a tag that is not UTF-8");
        bad_tag.sink = None;
        check_reads_alike(&bad_tag.encode_to_vec(), "no sink");
        check_reads_alike(&[0x0a, 0x05, b'a'], "a truncated metric");
        check_reads_alike(&[0x0a, 0x01, 0xff], "a metric that is not UTF-8");
        check_reads_alike(&[0x6a, 0x03, 0x29, 0x00, 0x00], "a truncated trend");
    }

    /// Protobuf lets a sender order fields as it likes, repeat them (the last number wins, a
    /// message's fields merge), pack repeated numbers or not and add fields this build does
    /// not know: read as the generated decoder reads it, and its key is the same set of
    /// bytes wherever its sink is.
    #[test]
    fn any_valid_encoding_reads_as_decoded() {
        let mut buf = Vec::new();
        let field = |buf: &mut Vec<u8>, tag: u32, body: &[u8]| {
            encode_key(tag, WireType::LengthDelimited, buf);
            encode_varint(body.len() as u64, buf);
            buf.extend_from_slice(body);
        };
        // A trend: count 3, its samples unpacked, sum twice (the last wins), an unknown field.
        let mut trend = Vec::new();
        encode_key(1, WireType::Varint, &mut trend);
        encode_varint(3, &mut trend);
        for (tag, v) in [(2, 9.0), (3, 1.0), (4, 3.0), (2, 6.0)] {
            encode_key(tag, WireType::SixtyFourBit, &mut trend);
            trend.extend_from_slice(&f64::to_le_bytes(v));
        }
        for v in [1.0, 2.0] {
            encode_key(5, WireType::SixtyFourBit, &mut trend);
            trend.extend_from_slice(&f64::to_le_bytes(v));
        }
        encode_key(99, WireType::Varint, &mut trend);
        encode_varint(7, &mut trend);
        let mut rest = Vec::new();
        encode_key(5, WireType::SixtyFourBit, &mut rest);
        rest.extend_from_slice(&f64::to_le_bytes(3.0));
        // Sink first, then the tags, the metric, the sink's last sample in a second `trend`.
        field(&mut buf, 13, &trend);
        let tag = |k: &str, v: &str| {
            let mut t = Vec::new();
            field(&mut t, 1, k.as_bytes());
            field(&mut t, 2, v.as_bytes());
            t
        };
        field(&mut buf, 4, &tag("b", "2"));
        field(&mut buf, 1, b"latency");
        field(&mut buf, 13, &rest);
        field(&mut buf, 4, &tag("a", "1"));
        encode_key(6, WireType::Varint, &mut buf);
        encode_varint(2, &mut buf);
        check_reads_alike(&buf, "reordered, repeated, unpacked");
        let mut reader = SeriesReader::default();
        let view = reader.read(&buf).unwrap();
        let (_, SinkDelta::Trend(t)) = view.sink().unwrap() else {
            panic!("a trend");
        };
        assert_eq!(t.to_sink().exact_values(), Some(&[1.0, 2.0, 3.0][..]));
        let key = view.key().to_vec();
        let mut reader = SeriesReader::default();
        let plain = Series::decode(&buf[..]).unwrap().encode_to_vec();
        let plain_key = reader.read(&plain).unwrap().key().to_vec();
        assert_ne!(key, plain_key, "another encoding is another key");
        // As agents encode it (the sink last): every field before the sink (the oneof's
        // length is its field's, key and length included).
        let sink_at = plain.len()
            - Series::decode(&plain[..])
                .unwrap()
                .sink
                .unwrap()
                .encoded_len();
        assert_eq!(plain_key, plain[..sink_at], "the fields before the sink");
        let mut rng = Rng::new(3);
        let mut seen = std::collections::HashMap::new();
        for case in 0..200 {
            let s = random_series(&mut rng, case);
            let identity = (s.metric.clone(), s.tags.clone(), s.contains);
            let bytes = s.encode_to_vec();
            let key = reader.read(&bytes).unwrap().key().to_vec();
            let before = seen.insert(key, identity.clone());
            assert!(before.is_none_or(|b| b == identity), "one key, one series");
        }
        assert!(seen.len() > 100, "{} keys", seen.len());
        let mut moved = buf.clone();
        let sink_first = 2 + trend.len();
        moved.rotate_left(sink_first);
        let mut reader = SeriesReader::default();
        assert_eq!(
            reader.read(&moved).unwrap().key(),
            key,
            "the sink's place is not in it"
        );
    }

    /// The batch is the generated message on the wire, both ways.
    #[test]
    fn batches_are_the_generated_message_on_the_wire() {
        let mut rng = Rng::new(9);
        let series: Vec<Series> = (0..30).map(|c| random_series(&mut rng, c)).collect();
        let old = Generated {
            run_id: 7,
            seq: 3,
            start_unix_ms: 1000,
            end_unix_ms: 2000,
            series: series.clone(),
        };
        let new = MetricBatch {
            run_id: 7,
            seq: 3,
            start_unix_ms: 1000,
            end_unix_ms: 2000,
            series: series.clone().into(),
        };
        assert_eq!(new.encode_to_vec(), old.encode_to_vec());
        assert_eq!(new.encoded_len(), old.encoded_len());
        let back = MetricBatch::decode(Bytes::from(old.encode_to_vec())).unwrap();
        assert_eq!(back, new);
        assert_eq!(back.series.decode().unwrap(), series);
        assert_eq!(
            Generated::decode(new.encode_to_vec().as_slice()).unwrap(),
            old
        );
        let empty = MetricBatch::default();
        assert!(empty.encode_to_vec().is_empty());
        assert_eq!(MetricBatch::decode(&[][..]).unwrap(), empty);
        assert!(
            MetricBatch::decode(&[0x2a, 0x09, 0x01][..]).is_err(),
            "truncated"
        );
    }
}
