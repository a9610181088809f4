/// Why a line could not become posts. Every malformed input ends here as a value (for the dead-letter
/// topic), never as a crash.
public enum PostDecodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The line is longer than `maxLineBytes` (the byte count is given).
    case tooLarge(Int)
    /// Not well-formed UTF-8, at this byte offset.
    case invalidUTF8(offset: Int)
    /// Not valid JSON (truncated, bad syntax, nesting deeper than the bound); the detail says where.
    case malformedJSON(String)
    /// Valid JSON that is none of the accepted shapes.
    case unknownShape(String)
    /// A stream control message rather than a post (`delete`, `limit`, `errors`, `meta`, ...): callers
    /// may count these instead of dead-lettering them.
    case notAPost(String)
    /// A canonical post whose `v` is not 1.
    case unsupportedVersion(Int64)
    /// A required field (id, created_at, text) is absent or null; the JSON path is given.
    case missingField(String)
    /// A field has the wrong JSON type (e.g. a number where a string belongs); the JSON path is given.
    case invalidField(String)
    /// `created_at` (or `timestamp_ms`) does not parse; the raw value is given.
    case badTimestamp(String)

    /// A stable short code, usable as a metric label or a header value.
    public var kind: String {
        switch self {
        case .tooLarge: return "too_large"
        case .invalidUTF8: return "invalid_utf8"
        case .malformedJSON: return "malformed_json"
        case .unknownShape: return "unknown_shape"
        case .notAPost: return "not_a_post"
        case .unsupportedVersion: return "unsupported_version"
        case .missingField: return "missing_field"
        case .invalidField: return "invalid_field"
        case .badTimestamp: return "bad_timestamp"
        }
    }

    /// One short line for a dead-letter header or a log: `kind: detail`.
    public var reason: String {
        switch self {
        case .tooLarge(let n): return "too_large: line of \(n) bytes"
        case .invalidUTF8(let at): return "invalid_utf8: at byte \(at)"
        case .malformedJSON(let d): return "malformed_json: \(d)"
        case .unknownShape(let d): return "unknown_shape: \(d)"
        case .notAPost(let d): return "not_a_post: \(d)"
        case .unsupportedVersion(let v): return "unsupported_version: v=\(v)"
        case .missingField(let f): return "missing_field: \(f)"
        case .invalidField(let f): return "invalid_field: \(f)"
        case .badTimestamp(let t):
            let shown = t.unicodeScalars.count > 64 ? String(String.UnicodeScalarView(t.unicodeScalars.prefix(64))) + "…" : t
            return "bad_timestamp: \(shown)"
        }
    }

    public var description: String { reason }
}

/// The shape a line was recognized as.
public enum PostShape: String, Sendable, Equatable {
    case canonical, x2, x2Page, x1
}

/// Turns one input line into posts, recognizing its shape per line: a canonical post, an X API v2 stream
/// line, a v2 response page (`data` array, as twarc2 writes), or a v1.1 status. See docs/input-formats.md.
///
/// It keeps scratch buffers between lines so the hot path does not allocate them per line: give each
/// task or thread its own decoder (a value; copies are independent and cheap).
public struct PostDecoder: Sendable {
    /// The `source` of canonical lines that carry none.
    public var defaultSource: String
    /// Longer lines are rejected with `.tooLarge` before any parsing.
    public var maxLineBytes: Int
    /// Deepest JSON nesting accepted (1...64); X payloads nest about 6 deep.
    public var maxDepth: Int
    /// The shape of the last line that decoded without error.
    public private(set) var lastShape: PostShape?

    private var collector = Collector()
    private var dayMemo = EventTime.DayMemo()

    /// The default line bound is 8 MiB: a twarc2 full-archive page (500 posts with expansions) runs to a
    /// few MB, a single stream post to a few KB.
    public init(defaultSource: String = "replay", maxLineBytes: Int = 8 << 20, maxDepth: Int = 64) {
        self.defaultSource = defaultSource
        self.maxLineBytes = maxLineBytes
        self.maxDepth = max(1, min(64, maxDepth))
    }

    /// Appends the posts of one line (zero for a blank line, which X sends as keep-alive; one for most
    /// shapes; many for a v2 page). A line either yields all its posts or throws, never a part.
    public mutating func decode(line: UnsafeBufferPointer<UInt8>, into posts: inout [Post]) throws(PostDecodeError) {
        try decodeRefs(line: line) { s, refs, tags, source in
            for r in refs { posts.append(PostView(scanner: s, refs: r, tagRefs: tags, defaultSource: source).post) }
        }
    }

    /// The hot-path form of `decode(line:into:)`: the same shapes, rules and errors, but each post is
    /// lent to `body` as a `PostView` over the line's bytes instead of being built as a `Post` (no
    /// Strings for fields the caller does not ask for). The views are valid only during the call;
    /// `body` runs only once the whole line decoded without error (all or nothing, as above).
    /// Returns the number of posts.
    @discardableResult
    public mutating func decode(line: UnsafeBufferPointer<UInt8>, views body: (PostView) -> Void) throws(PostDecodeError) -> Int {
        var n = 0
        try decodeRefs(line: line) { s, refs, tags, source in
            n = refs.count
            for r in refs { body(PostView(scanner: s, refs: r, tagRefs: tags, defaultSource: source)) }
        }
        return n
    }

    private mutating func decodeRefs(line: UnsafeBufferPointer<UInt8>,
                                     _ body: (JSONScanner, UnsafeBufferPointer<PostRefs>, UnsafeBufferPointer<JSONStringRef>, UnsafePointer<String>) -> Void) throws(PostDecodeError) {
        // Offsets are 32-bit inside the scanner, hence the hard 2 GiB ceiling.
        if line.count > min(maxLineBytes, JSONStructuralIndex.maxTextBytes) { throw .tooLarge(line.count) }
        var line = line
        // A UTF-8 byte order mark (first line of some files written on Windows) is not part of the JSON.
        if line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
            line = UnsafeBufferPointer(rebasing: line[3...])
        }
        // One pass finds the tokens and checks UTF-8. The buffers are reused line after line; a copy of
        // this decoder shares them until one of them decodes, which then takes buffers of its own.
        if !isKnownUniquelyReferenced(&collector) { collector = Collector() }
        let c = collector
        c.structure.build(line, checkUTF8: true)
        if let bad = c.structure.firstInvalidUTF8 { throw .invalidUTF8(offset: bad) }
        // The collector (held by self) keeps the index alive for the whole call.
        var s = JSONScanner(line, borrowing: c.structure, maxDepth: maxDepth)
        guard let first = s.peek() else { return }
        c.reset()
        var f = Fields()
        let isObject = first == UInt8(ascii: "{")
        do throws(JSONScanError) {
            if isObject {
                try c.parseObject(&s, &f, top: true)
            } else {
                try s.skipValue()
            }
            try s.finish()
        } catch {
            throw .malformedJSON(error.description)
        }
        guard isObject else { throw .unknownShape("top level is not an object") }
        try build(s, f, c)
        // Views get pointers, not copies: a PostView is then plain data, copied without reference counting.
        withUnsafePointer(to: defaultSource) { body(s, c.refs.buffer, c.tagRefs.buffer, $0) }
    }

    public mutating func decode(line: [UInt8], into posts: inout [Post]) throws(PostDecodeError) {
        try line.withUnsafeBufferPointer { (b) throws(PostDecodeError) in try decode(line: b, into: &posts) }
    }

    public mutating func decode(line: String, into posts: inout [Post]) throws(PostDecodeError) {
        var line = line
        // String.withUTF8 only rethrows untyped errors; carry the typed one out by hand.
        let failure: PostDecodeError? = line.withUTF8 { b in
            do throws(PostDecodeError) { try decode(line: b, into: &posts); return nil } catch { return error }
        }
        if let failure { throw failure }
    }

    /// Convenience for tests and tools: the posts of one line.
    public mutating func decode(_ line: String) throws(PostDecodeError) -> [Post] {
        var out: [Post] = []
        try decode(line: line, into: &out)
        return out
    }

    public mutating func decode(_ line: [UInt8]) throws(PostDecodeError) -> [Post] {
        var out: [Post] = []
        try decode(line: line, into: &out)
        return out
    }

    // MARK: - Field collection (one pass; every shape's keys are recorded where they are met)

    /// Fields are copied per post (data items, included tweets): kept small with 32-bit offsets.
    struct TagSpan {
        var start32: Int32
        var count32: Int32
        init(start: Int, count: Int) {
            start32 = Int32(truncatingIfNeeded: start)
            count32 = Int32(truncatingIfNeeded: count)
        }
        var start: Int { Int(start32) }
        var count: Int { Int(count32) }
    }

    /// A number's text (ids given as numbers), as offsets like a string ref.
    struct NumberSpan {
        var start32: Int32
        var end32: Int32
        init(_ r: Range<Int>) {
            start32 = Int32(truncatingIfNeeded: r.lowerBound)
            end32 = Int32(truncatingIfNeeded: r.upperBound)
        }
        var range: Range<Int> { Int(start32)..<Int(end32) }
    }

    enum DataKind { case none, null, object, array }

    struct Fields {
        var vSeen = false
        var v: Int64?
        var id: JSONStringRef?
        var idNumber: NumberSpan?
        var idStr: JSONStringRef?
        var createdAt: JSONStringRef?
        var timestampMs: JSONStringRef?
        var text: JSONStringRef?
        var fullText: JSONStringRef?
        var lang: JSONStringRef?
        var authorID: JSONStringRef?
        var source: JSONStringRef?
        var isRepost: Bool?
        var hashtags: TagSpan?      // canonical `hashtags`
        var entityTags: TagSpan?    // `entities.hashtags` (empty when `entities` has none)
        var noteText: JSONStringRef? // v2 `note_tweet` (posts over 280 characters)
        var noteTags: TagSpan?
        var extText: JSONStringRef? // v1.1 `extended_tweet`
        var extTags: TagSpan?
        var userID: JSONStringRef?
        var userIDNumber: NumberSpan?
        var retweetOf: JSONStringRef? // v2 referenced_tweets type=retweeted
        var hasRetweetedStatus = false
        var data = DataKind.none
        var hasIncludes = false
        var control: JSONStringRef?
        /// The first field with a wrong type (thrown once the whole line is known to be valid JSON).
        var bad: StaticString?
        var badInRetweet = false
    }

    enum Key {
        case other, v, id, idStr, createdAt, timestampMs, text, fullText, lang, authorID, source, isRepost
        case hashtags, entities, noteTweet, extendedTweet, user, referencedTweets, retweetedStatus
        case data, includes, control
    }

    // Static, like the helpers below: a plain method called from the mutating parsers copies the whole
    // decoder (hundreds of bytes) per call. It takes the line's base, not the scanner, for the same reason.
    @inline(__always)
    private static func key(_ base: UnsafePointer<UInt8>, _ k: JSONStringRef) -> Key {
        if k.hasEscapes {
            // Rare: decode and look the plain spelling up.
            var name = JSONScanner.decode(k, base)
            return name.withUTF8 { PostDecoder.key(raw: $0) }
        }
        return PostDecoder.key(raw: UnsafeBufferPointer(start: base + k.start, count: k.end - k.start))
    }

    @inline(__always)
    private static func key(raw b: UnsafeBufferPointer<UInt8>) -> Key {
        // Each literal below has the length of the case it is in.
        @inline(__always) func eq(_ lit: StaticString) -> Bool { bytesEqual(b.baseAddress!, lit.utf8Start, b.count) }
        switch b.count {
        case 1: return b[0] == UInt8(ascii: "v") ? .v : .other
        case 2: return eq("id") ? .id : .other
        case 4:
            if eq("text") { return .text }
            if eq("lang") { return .lang }
            if eq("data") { return .data }
            if eq("user") { return .user }
            if eq("meta") { return .control }
            return .other
        case 5: return eq("limit") || eq("event") ? .control : .other
        case 6:
            if eq("id_str") { return .idStr }
            if eq("source") { return .source }
            if eq("delete") || eq("errors") { return .control }
            return .other
        case 7: return eq("warning") || eq("friends") ? .control : .other
        case 8:
            if eq("entities") { return .entities }
            if eq("hashtags") { return .hashtags }
            if eq("includes") { return .includes }
            return .other
        case 9:
            if eq("full_text") { return .fullText }
            if eq("author_id") { return .authorID }
            if eq("is_repost") { return .isRepost }
            if eq("scrub_geo") { return .control }
            return .other
        case 10:
            if eq("created_at") { return .createdAt }
            if eq("note_tweet") { return .noteTweet }
            if eq("disconnect") { return .control }
            return .other
        case 12: return eq("timestamp_ms") ? .timestampMs : .other
        case 13: return eq("user_withheld") ? .control : .other
        case 14: return eq("extended_tweet") ? .extendedTweet : .other
        case 15: return eq("status_withheld") ? .control : .other
        case 16: return eq("retweeted_status") ? .retweetedStatus : .other
        case 17: return eq("referenced_tweets") ? .referencedTweets : .other
        default: return .other
        }
    }

    /// A string or null; any other type marks the field bad (reported after the whole line is validated).
    @inline(__always)
    private static func stringField(_ s: inout JSONScanner, _ f: inout Fields, _ name: StaticString) throws(JSONScanError) -> JSONStringRef? {
        guard let c = s.peek() else { throw .unexpectedEnd }
        if c == UInt8(ascii: "\"") { return try s.readString() }
        if c != UInt8(ascii: "n") && f.bad == nil { f.bad = name }
        try s.skipValue()
        return nil
    }

    /// Reads an object only when the value is one (null is absent; other types mark the field bad).
    @inline(__always)
    private static func isObject(_ s: inout JSONScanner, _ f: inout Fields, _ name: StaticString) throws(JSONScanError) -> Bool {
        guard let c = s.peek() else { throw .unexpectedEnd }
        if c == UInt8(ascii: "{") { return true }
        if c != UInt8(ascii: "n") && f.bad == nil { f.bad = name }
        try s.skipValue()
        return false
    }

    /// What the walk over one line collects, in buffers reused line after line. A class, so that the
    /// walk's methods do not copy the decoder, with plain buffers instead of Arrays (no uniqueness check or
    /// reference counting per append). A decoder's copies share it until one decodes (see decodeRefs).
    final class Collector: @unchecked Sendable {
        @exclusivity(unchecked) var tagRefs = ScratchBuffer<JSONStringRef>()
        @exclusivity(unchecked) var dataItems = ScratchBuffer<Fields>()
        @exclusivity(unchecked) var included = ScratchBuffer<Fields>()
        @exclusivity(unchecked) var refs = ScratchBuffer<PostRefs>()
        @exclusivity(unchecked) var retweeted = Fields()
        /// The first pass's token buffer, reused as well.
        let structure = JSONStructuralIndex()

        deinit {
            tagRefs.free()
            dataItems.free()
            included.free()
            refs.free()
        }

        func reset() {
            tagRefs.removeAll()
            dataItems.removeAll()
            included.removeAll()
            refs.removeAll()
        }

        func parseObject(_ s: inout JSONScanner, _ f: inout Fields, top: Bool) throws(JSONScanError) {
            try s.enterObject()
            var first = true
            while let k = try s.nextKey(&first) {
                switch PostDecoder.key(s.base, k) {
                case .other:
                    try s.skipValue()
                case .v:
                    if top {
                        f.vSeen = true
                        if try s.peekKind() == .number { f.v = try s.readInt64() ?? -1 } else { f.bad = f.bad ?? "v"; try s.skipValue() }
                    } else {
                        try s.skipValue()
                    }
                case .id:
                    switch try s.peekKind() {
                    case .string: f.id = try s.readString()
                    case .number: f.idNumber = NumberSpan(try s.readNumber())
                    case .null: try s.skipValue()
                    default: f.bad = f.bad ?? "id"; try s.skipValue()
                    }
                case .idStr: f.idStr = try PostDecoder.stringField(&s, &f, "id_str")
                case .createdAt: f.createdAt = try PostDecoder.stringField(&s, &f, "created_at")
                case .timestampMs: f.timestampMs = try PostDecoder.stringField(&s, &f, "timestamp_ms")
                case .text: f.text = try PostDecoder.stringField(&s, &f, "text")
                case .fullText: f.fullText = try PostDecoder.stringField(&s, &f, "full_text")
                case .lang: f.lang = try PostDecoder.stringField(&s, &f, "lang")
                case .authorID: f.authorID = try PostDecoder.stringField(&s, &f, "author_id")
                case .source: f.source = try PostDecoder.stringField(&s, &f, "source")
                case .isRepost:
                    switch try s.peekKind() {
                    case .bool: f.isRepost = try s.readBool()
                    case .null: try s.skipValue()
                    default: f.bad = f.bad ?? "is_repost"; try s.skipValue()
                    }
                case .hashtags:
                    f.hashtags = try parseStringArray(&s, &f, "hashtags", "hashtags[]")
                case .entities:
                    if try PostDecoder.isObject(&s, &f, "entities") { f.entityTags = try parseEntities(&s, &f) }
                case .noteTweet:
                    if try PostDecoder.isObject(&s, &f, "note_tweet") { (f.noteText, f.noteTags) = try parseExtended(&s, &f) }
                case .extendedTweet:
                    if try PostDecoder.isObject(&s, &f, "extended_tweet") { (f.extText, f.extTags) = try parseExtended(&s, &f) }
                case .user:
                    if try PostDecoder.isObject(&s, &f, "user") { try parseUser(&s, &f) }
                case .referencedTweets:
                    try parseReferenced(&s, &f)
                case .retweetedStatus:
                    if top, try PostDecoder.isObject(&s, &f, "retweeted_status") {
                        var rt = Fields()
                        try parseObject(&s, &rt, top: false)
                        if let b = rt.bad, f.bad == nil { f.bad = b; f.badInRetweet = true }
                        retweeted = rt
                        f.hasRetweetedStatus = true
                    } else if !top {
                        try s.skipValue()
                    }
                case .data:
                    guard top else { try s.skipValue(); break }
                    switch try s.peekKind() {
                    case .object:
                        f.data = .object
                        try parseDataItem(&s)
                    case .array:
                        f.data = .array
                        try s.enterArray()
                        var firstElement = true
                        while try s.nextElement(&firstElement) {
                            if try s.peekKind() == .object {
                                try parseDataItem(&s)
                            } else {
                                f.bad = f.bad ?? "data[]"
                                try s.skipValue()
                            }
                        }
                    case .null:
                        f.data = .null
                        try s.skipValue()
                    default:
                        f.bad = f.bad ?? "data"
                        try s.skipValue()
                    }
                case .includes:
                    if top, try PostDecoder.isObject(&s, &f, "includes") {
                        f.hasIncludes = true
                        try parseIncludes(&s, &f)
                    } else if !top {
                        try s.skipValue()
                    }
                case .control:
                    if top && f.control == nil { f.control = k }
                    try s.skipValue()
                }
            }
        }

        /// One `data` object, parsed in place at the end of dataItems (no copy of Fields per post). Nothing
        /// below a data item appends to dataItems, so the pointer stays valid during the walk.
        func parseDataItem(_ s: inout JSONScanner) throws(JSONScanError) {
            let item = dataItems.appendNew(Fields())
            try parseObject(&s, &item.pointee, top: false)
        }

        /// `["a","b"]` into tagRefs; nil for null.
        func parseStringArray(_ s: inout JSONScanner, _ f: inout Fields, _ name: StaticString, _ elementName: StaticString) throws(JSONScanError) -> TagSpan? {
            switch try s.peekKind() {
            case .array:
                let start = tagRefs.count
                try s.enterArray()
                var first = true
                while try s.nextElement(&first) {
                    if try s.peekKind() == .string {
                        tagRefs.append(try s.readString())
                    } else {
                        f.bad = f.bad ?? elementName
                        try s.skipValue()
                    }
                }
                return TagSpan(start: start, count: tagRefs.count - start)
            case .null:
                try s.skipValue()
                return nil
            default:
                f.bad = f.bad ?? name
                try s.skipValue()
                return nil
            }
        }

        /// `entities`: hashtags as `[{tag}]` (v2) or `[{text, indices}]` (v1.1). An entities object without
        /// hashtags means the source found none: an empty list, not nil.
        func parseEntities(_ s: inout JSONScanner, _ f: inout Fields) throws(JSONScanError) -> TagSpan {
            let start = tagRefs.count
            try s.enterObject()
            var first = true
            while let k = try s.nextKey(&first) {
                guard s.equals(k, "hashtags"), try s.peekKind() == .array else {
                    try s.skipValue()
                    continue
                }
                try s.enterArray()
                var firstElement = true
                while try s.nextElement(&firstElement) {
                    guard try s.peekKind() == .object else {
                        f.bad = f.bad ?? "entities.hashtags[]"
                        try s.skipValue()
                        continue
                    }
                    try s.enterObject()
                    var firstMember = true
                    var tag: JSONStringRef?
                    while let m = try s.nextKey(&firstMember) {
                        if s.equals(m, "tag") || s.equals(m, "text") {
                            tag = try PostDecoder.stringField(&s, &f, "entities.hashtags[].tag")
                        } else {
                            try s.skipValue()
                        }
                    }
                    if let tag { tagRefs.append(tag) } else { f.bad = f.bad ?? "entities.hashtags[].tag" }
                }
            }
            return TagSpan(start: start, count: tagRefs.count - start)
        }

        /// `extended_tweet` (v1.1: full_text + entities) or `note_tweet` (v2: text + entities).
        func parseExtended(_ s: inout JSONScanner, _ f: inout Fields) throws(JSONScanError) -> (JSONStringRef?, TagSpan?) {
            var text: JSONStringRef?
            var tags: TagSpan?
            try s.enterObject()
            var first = true
            while let k = try s.nextKey(&first) {
                if s.equals(k, "full_text") || s.equals(k, "text") {
                    text = try PostDecoder.stringField(&s, &f, "extended_tweet.full_text")
                } else if s.equals(k, "entities"), try PostDecoder.isObject(&s, &f, "extended_tweet.entities") {
                    tags = try parseEntities(&s, &f)
                } else if !s.equals(k, "entities") {
                    try s.skipValue()
                }
            }
            return (text, tags)
        }

        func parseUser(_ s: inout JSONScanner, _ f: inout Fields) throws(JSONScanError) {
            try s.enterObject()
            var first = true
            while let k = try s.nextKey(&first) {
                if s.equals(k, "id_str") {
                    f.userID = try PostDecoder.stringField(&s, &f, "user.id_str")
                } else if s.equals(k, "id"), try s.peekKind() == .number {
                    f.userIDNumber = NumberSpan(try s.readNumber())
                } else {
                    try s.skipValue()
                }
            }
        }

        func parseReferenced(_ s: inout JSONScanner, _ f: inout Fields) throws(JSONScanError) {
            guard try s.peekKind() == .array else { try s.skipValue(); return }
            try s.enterArray()
            var first = true
            while try s.nextElement(&first) {
                guard try s.peekKind() == .object else { try s.skipValue(); continue }
                try s.enterObject()
                var firstMember = true
                var isRetweet = false
                var id: JSONStringRef?
                while let k = try s.nextKey(&firstMember) {
                    if s.equals(k, "type"), try s.peekKind() == .string {
                        isRetweet = s.equals(try s.readString(), "retweeted")
                    } else if s.equals(k, "id"), try s.peekKind() == .string {
                        id = try s.readString()
                    } else {
                        try s.skipValue()
                    }
                }
                if isRetweet, let id { f.retweetOf = id }
            }
        }

        func parseIncludes(_ s: inout JSONScanner, _ f: inout Fields) throws(JSONScanError) {
            try s.enterObject()
            var first = true
            while let k = try s.nextKey(&first) {
                guard s.equals(k, "tweets"), try s.peekKind() == .array else {
                    try s.skipValue()
                    continue
                }
                try s.enterArray()
                var firstElement = true
                while try s.nextElement(&firstElement) {
                    if try s.peekKind() == .object {
                        // Parsed in place, as a data item (nothing below appends to included).
                        let item = included.appendNew(Fields())
                        try parseObject(&s, &item.pointee, top: false)
                    } else {
                        try s.skipValue()
                    }
                }
            }
        }
    }

    // MARK: - Building posts

    /// The posts of a line whose walk collected `f` (top level) and `c`, into `c.refs`.
    private mutating func build(_ s: JSONScanner, _ f: Fields, _ c: Collector) throws(PostDecodeError) {
        if let bad = f.bad { throw .invalidField((f.badInRetweet ? "retweeted_status." : "") + bad.description) }
        if f.data != .none {
            // X API v2: a stream line (data object) or a response page (data array).
            if f.data == .null || (f.data == .array && c.dataItems.isEmpty) {
                lastShape = .x2Page
                return
            }
            // All or nothing: roll back what this line appended if one of its posts fails.
            let before = c.refs.count
            for i in c.dataItems.indices {
                do throws(PostDecodeError) {
                    if let bad = c.dataItems[i].bad { throw .invalidField("data." + bad.description) }
                    c.refs.append(try PostDecoder.buildV2(s, c.dataItems[i], c.included.buffer, &dayMemo))
                } catch {
                    c.refs.truncate(to: before)
                    throw error
                }
            }
            lastShape = f.data == .array ? .x2Page : .x2
            return
        }
        if f.vSeen {
            let v = f.v ?? -1
            guard v == 1 else { throw .unsupportedVersion(v) }
            c.refs.append(try PostDecoder.buildCanonical(s, f, &dayMemo))
            lastShape = .canonical
            return
        }
        if f.idStr != nil || f.userID != nil || f.userIDNumber != nil || f.idNumber != nil || f.hasRetweetedStatus {
            c.refs.append(try PostDecoder.buildV1(s, f, c.retweeted))
            lastShape = .x1
            return
        }
        if let control = f.control {
            throw .notAPost(s.string(control))
        }
        if f.id != nil || f.createdAt != nil || f.text != nil {
            // A canonical post without `v` (hand-written replay files): same rules, same errors.
            c.refs.append(try PostDecoder.buildCanonical(s, f, &dayMemo))
            lastShape = .canonical
            return
        }
        throw .unknownShape(f.hasIncludes ? "includes without data" : "no post fields (id, created_at, text, data)")
    }

    /// A post as positions in the line (what `materialize` turns into a `Post`, and `PostView` lends).
    struct PostRefs {
        var id: JSONStringRef
        var createdAtMillis: Int64
        var text: JSONStringRef
        var tags: TagSpan?
        var lang: JSONStringRef?
        var authorID: JSONStringRef?
        /// The source field of a canonical post; nil: `fixedSource`.
        var source: JSONStringRef?
        var fixedSource: FixedSource
        var isRepost: Bool
    }

    /// The source of a post whose line names none (no String here: PostRefs stay plain data).
    enum FixedSource {
        case x1, x2, decoderDefault
    }

    // The builders are static: called on `self` from the mutating `build`, they made a copy of the
    // whole decoder per line.
    private static func rfc3339(_ s: JSONScanner, _ r: JSONStringRef, _ memo: inout EventTime.DayMemo) throws(PostDecodeError) -> Int64 {
        if !r.hasEscapes, let t = EventTime.parseCommon(s.base + r.start, count: r.end - r.start, memo: &memo) { return t }
        let parsed: Int64?
        if r.hasEscapes {
            parsed = EventTime.parse(s.string(r))
        } else {
            parsed = EventTime.parse(bytes: UnsafeBufferPointer(rebasing: s.bytes[r.start..<r.end]))
        }
        guard let parsed, PostDecoder.calendarDateExists(s.base, r) else { throw .badTimestamp(s.string(r)) }
        return parsed
    }

    /// EventTime.parse checks only 1...31 for the day; a date like Feb 30 would silently roll over.
    private static func calendarDateExists(_ base: UnsafePointer<UInt8>, _ r: JSONStringRef) -> Bool {
        guard !r.hasEscapes else {
            var copy = JSONScanner.decode(r, base)
            return copy.withUTF8 { b in
                guard let p = b.baseAddress else { return false }
                return PostDecoder.calendarDateExists(p, JSONStringRef(start: 0, end: b.count, hasEscapes: false))
            }
        }
        guard r.end - r.start >= 10 else { return false }
        let p = base + r.start
        @inline(__always) func digit(_ i: Int) -> Int { Int(p[i]) &- 48 }
        let y = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3)
        let m = digit(5) * 10 + digit(6)
        let d = digit(8) * 10 + digit(9)
        return d <= EventTime.daysInMonth(year: y, month: m)
    }

    private static func buildCanonical(_ s: JSONScanner, _ f: Fields, _ memo: inout EventTime.DayMemo) throws(PostDecodeError) -> PostRefs {
        guard let id = f.id else { throw f.idNumber != nil ? .invalidField("id") : .missingField("id") }
        guard let created = f.createdAt else { throw .missingField("created_at") }
        guard let text = f.text else { throw .missingField("text") }
        return PostRefs(id: id, createdAtMillis: try rfc3339(s, created, &memo), text: text, tags: f.hashtags,
                        lang: f.lang, authorID: f.authorID, source: f.source, fixedSource: .decoderDefault,
                        isRepost: f.isRepost ?? false)
    }

    private static func buildV2(_ s: JSONScanner, _ d: Fields, _ included: UnsafeBufferPointer<Fields>, _ memo: inout EventTime.DayMemo) throws(PostDecodeError) -> PostRefs {
        guard let id = d.id else { throw d.idNumber != nil ? .invalidField("data.id") : .missingField("data.id") }
        guard let created = d.createdAt else { throw .missingField("data.created_at") }
        guard var text = d.noteText ?? d.text else { throw .missingField("data.text") }
        var tagSpan = d.noteText != nil ? d.noteTags : d.entityTags
        var isRepost = false
        if let orig = d.retweetOf {
            isRepost = true
            // v2 truncates a retweet's text ("RT @x: ..."); the original, when expanded, has it whole.
            if let i = included.firstIndex(where: { $0.id.map { s.equals($0, orig) } ?? false }),
               let full = included[i].noteText ?? included[i].text {
                text = full
                tagSpan = included[i].noteText != nil ? included[i].noteTags : included[i].entityTags
            }
        }
        return PostRefs(id: id, createdAtMillis: try rfc3339(s, created, &memo), text: text, tags: tagSpan,
                        lang: d.lang, authorID: d.authorID, source: nil, fixedSource: .x2, isRepost: isRepost)
    }

    /// A number made only of digits, as a string ref over them (ids and user ids of v1.1).
    private static func digits(_ s: JSONScanner, _ r: Range<Int>) -> JSONStringRef? {
        let b = UnsafeBufferPointer(rebasing: s.bytes[r])
        guard !b.isEmpty, b.allSatisfy({ ($0 &- 48) <= 9 }) else { return nil }
        return JSONStringRef(start: r.lowerBound, end: r.upperBound, hasEscapes: false)
    }

    private static func buildV1(_ s: JSONScanner, _ f: Fields, _ retweeted: Fields) throws(PostDecodeError) -> PostRefs {
        let id: JSONStringRef
        if let r = f.idStr {
            id = r
        } else if let r = f.idNumber?.range {
            guard let d = digits(s, r) else { throw .invalidField("id") }
            id = d
        } else {
            throw .missingField("id_str")
        }
        let created: Int64
        if let ms = f.timestampMs {
            let raw = s.string(ms)
            guard let v = Int64(raw), raw.utf8.allSatisfy({ ($0 &- 48) <= 9 }) else { throw .badTimestamp(raw) }
            created = v
        } else if let c = f.createdAt {
            let raw = s.string(c)
            guard let v = TwitterTime.parse(raw) ?? EventTime.parse(raw) else { throw .badTimestamp(raw) }
            created = v
        } else {
            throw .missingField("created_at")
        }
        // Retweets: the original carries the untruncated text and its own entities.
        let c = f.hasRetweetedStatus ? retweeted : f
        let text: JSONStringRef
        let tagSpan: TagSpan?
        if let t = c.extText {
            text = t
            tagSpan = c.extTags
        } else if let t = c.fullText ?? c.text {
            text = t
            tagSpan = c.entityTags
        } else if f.hasRetweetedStatus, let t = f.fullText ?? f.text {
            text = t
            tagSpan = f.entityTags
        } else {
            throw .missingField("text")
        }
        let author = f.userID ?? f.userIDNumber.flatMap { digits(s, $0.range) }
        return PostRefs(id: id, createdAtMillis: created, text: text, tags: tagSpan, lang: f.lang, authorID: author,
                        source: nil, fixedSource: .x1, isRepost: f.hasRetweetedStatus)
    }
}


/// One decoded post lent by `PostDecoder.decode(line:views:)`: positions in the line's bytes, turned
/// into Strings only on request. Valid only inside the callback that received it.
public struct PostView {
    /// The line's bytes (borrowed: only pointers, so a view is copied without reference counting).
    let base: UnsafePointer<UInt8>
    let end: Int
    let refs: PostDecoder.PostRefs
    let tagRefs: UnsafeBufferPointer<JSONStringRef>
    let defaultSource: UnsafePointer<String>

    init(scanner: JSONScanner, refs: PostDecoder.PostRefs, tagRefs: UnsafeBufferPointer<JSONStringRef>,
         defaultSource: UnsafePointer<String>) {
        self.base = scanner.base
        self.end = scanner.bytes.count
        self.refs = refs
        self.tagRefs = tagRefs
        self.defaultSource = defaultSource
    }

    /// The source of a post whose line names none.
    var fixedSource: String {
        switch refs.fixedSource {
        case .x1: return "x1"
        case .x2: return "x2"
        case .decoderDefault: return defaultSource.pointee
        }
    }

    /// The decoded value of one of this post's strings.
    func string(_ ref: JSONStringRef) -> String {
        precondition(ref.start >= 0 && ref.start <= ref.end && ref.end <= end, "JSONStringRef from another line")
        return JSONScanner.decode(ref, base)
    }

    /// Event time: milliseconds since the Unix epoch, UTC.
    public var createdAtMillis: Int64 { refs.createdAtMillis }

    /// Whether the source supplied the hashtags (then they are counted, not the text's).
    public var hasSourceHashtags: Bool { refs.tags != nil }

    /// Calls `body` with the UTF-8 bytes of the post id.
    public func withID<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withString(refs.id, body)
    }

    /// Calls `body` with the UTF-8 bytes of the full text (unescaped).
    public func withText<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        withString(refs.text, body)
    }

    /// The hashtags the post counts (DESIGN.md: the source's when supplied, else twitter-text
    /// extraction from the text), each as written, without `#`, in order: what `PostTags.tags(of:)`
    /// gives as `display`, without allocating.
    public func forEachHashtag(_ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        if let span = refs.tags {
            for i in span.start..<(span.start + span.count) { withString(tagRefs[i], body) }
        } else {
            withString(refs.text) { HashtagExtractor.forEachHashtag(utf8: $0, body) }
        }
    }

    /// The whole post, as `decode(line:into:)` would have built it.
    public var post: Post {
        let r = refs
        var tags: [String]? = nil
        if let span = r.tags {
            tags = (span.start..<(span.start + span.count)).map { string(tagRefs[$0]) }
        }
        return Post(id: string(r.id), createdAtMillis: r.createdAtMillis, text: string(r.text),
                    lang: r.lang.map { string($0) }, authorID: r.authorID.map { string($0) },
                    source: r.source.map { string($0) } ?? fixedSource, isRepost: r.isRepost, hashtags: tags)
    }

    @inline(__always)
    private func withString<R>(_ ref: JSONStringRef, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let raw = UnsafeBufferPointer(start: base + ref.start, count: ref.end - ref.start)
        if !ref.hasEscapes { return body(raw) }
        // The unescaped form is never longer than the escaped one.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(raw.count, 1)) { out in
            let n = JSONScanner.unescape(raw, into: out)
            return body(UnsafeBufferPointer(rebasing: out[0..<n]))
        }
    }
}
