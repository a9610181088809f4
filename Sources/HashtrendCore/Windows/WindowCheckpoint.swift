/// What trendd stores with its committed offsets (Kafka commit metadata) so that a fresh engine can
/// rebuild its windows by re-reading the input: per partition the offset to re-read from and the
/// largest event time before it (the watermark state), plus the last finalized window end.
/// See docs/windows.md ("Checkpoint").
public struct WindowCheckpoint: Codable, Sendable, Equatable {
    public struct Partition: Codable, Sendable, Equatable {
        public var partition: Int32
        /// Re-read from here; nil: no record of this partition was seen (read from its beginning,
        /// or from wherever the consumer would start).
        public var resumeOffset: Int64?
        /// Largest event time among the partition's records before `resumeOffset`; nil: none.
        public var maxEventTimeMillis: Int64?

        public init(partition: Int32, resumeOffset: Int64?, maxEventTimeMillis: Int64?) {
            self.partition = partition
            self.resumeOffset = resumeOffset
            self.maxEventTimeMillis = maxEventTimeMillis
        }
    }

    /// The configuration the state depends on (checked on restore).
    public var sizeMillis: Int64
    public var advanceMillis: Int64
    public var latenessMillis: Int64
    public var baselineWindows: Int
    /// End of the last finalized window: no window ending at or before it is emitted after restore.
    public var lastFinalEndMillis: Int64?
    /// Whether a final window was emitted yet (from then on, empty windows are emitted too).
    public var emittedAny: Bool
    public var partitions: [Partition]

    public init(sizeMillis: Int64, advanceMillis: Int64, latenessMillis: Int64, baselineWindows: Int,
                lastFinalEndMillis: Int64?, emittedAny: Bool, partitions: [Partition]) {
        self.sizeMillis = sizeMillis
        self.advanceMillis = advanceMillis
        self.latenessMillis = latenessMillis
        self.baselineWindows = baselineWindows
        self.lastFinalEndMillis = lastFinalEndMillis
        self.emittedAny = emittedAny
        self.partitions = partitions
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        public var description: String {
            switch self {
            case .malformed(let why): return "malformed window checkpoint: \(why)"
            }
        }
    }

    func check(against c: WindowConfig) throws(WindowConfigError) {
        guard sizeMillis == c.size.millis, advanceMillis == c.advance.millis, latenessMillis == c.allowedLateness.millis,
              baselineWindows == c.baselineWindows
        else {
            throw .checkpointMismatch("checkpoint has size=\(HTDuration(millis: sizeMillis)) advance=\(HTDuration(millis: advanceMillis)) "
                + "lateness=\(HTDuration(millis: latenessMillis)) baselineWindows=\(baselineWindows)")
        }
    }

    /// Compact text: `w1.<W>.<S>.<L>.<H>.<F>.<E>:<p>.<offset>.<maxdelta>,...` with numbers in base 36,
    /// empty for nil, and each max event time as a difference from F (small numbers). About 15 bytes
    /// per partition.
    public func encoded() -> String {
        func b36(_ v: Int64) -> String { String(v, radix: 36) }
        let base = lastFinalEndMillis ?? 0
        var s = "w1.\(b36(sizeMillis)).\(b36(advanceMillis)).\(b36(latenessMillis)).\(b36(Int64(baselineWindows)))."
        s += lastFinalEndMillis.map(b36) ?? ""
        s += emittedAny ? ".1:" : ".0:"
        var first = true
        for p in partitions {
            if !first { s += "," }
            first = false
            s += b36(Int64(p.partition))
            s += "."
            s += p.resumeOffset.map(b36) ?? ""
            s += "."
            s += p.maxEventTimeMillis.map { b36($0 &- base) } ?? ""
        }
        return s
    }

    public init(encoded text: String) throws(DecodeError) {
        let halves = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard halves.count == 2 else { throw .malformed("missing ':'") }
        let head = halves[0].split(separator: ".", omittingEmptySubsequences: false)
        guard head.count == 7, head[0] == "w1" else { throw .malformed("unknown header") }
        func num(_ s: Substring, _ what: String) throws(DecodeError) -> Int64 {
            guard let v = Int64(s, radix: 36) else { throw .malformed("bad \(what) '\(s)'") }
            return v
        }
        func opt(_ s: Substring, _ what: String) throws(DecodeError) -> Int64? {
            s.isEmpty ? nil : try num(s, what)
        }
        sizeMillis = try num(head[1], "size")
        advanceMillis = try num(head[2], "advance")
        latenessMillis = try num(head[3], "lateness")
        let h = try num(head[4], "baseline windows")
        guard h >= 0, h <= 1000 else { throw .malformed("bad baseline windows") }
        baselineWindows = Int(h)
        lastFinalEndMillis = try opt(head[5], "last final end")
        guard head[6] == "0" || head[6] == "1" else { throw .malformed("bad emitted flag") }
        emittedAny = head[6] == "1"
        let base = lastFinalEndMillis ?? 0
        partitions = []
        if !halves[1].isEmpty {
            for entry in halves[1].split(separator: ",", omittingEmptySubsequences: false) {
                let f = entry.split(separator: ".", omittingEmptySubsequences: false)
                guard f.count == 3 else { throw .malformed("bad partition entry '\(entry)'") }
                let pid = try num(f[0], "partition")
                guard let p32 = Int32(exactly: pid) else { throw .malformed("bad partition '\(f[0])'") }
                partitions.append(Partition(partition: p32, resumeOffset: try opt(f[1], "offset"),
                                            maxEventTimeMillis: try opt(f[2], "max event time").map { $0 &+ base }))
            }
        }
    }
}
