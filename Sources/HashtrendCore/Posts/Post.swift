/// The canonical post: the value of a record on the `tweets` topic (DESIGN.md, "Topics and records").
public struct Post: Sendable, Equatable, Hashable {
    /// The post id, as the source spells it (a decimal string for X).
    public var id: String
    /// Event time: milliseconds since the Unix epoch, UTC.
    public var createdAtMillis: Int64
    /// The full text (never the truncated form of a retweet or an extended tweet).
    public var text: String
    public var lang: String?
    public var authorID: String?
    /// Where it came from: `x2`, `x1`, `replay`, `synthetic`, `mastodon`.
    public var source: String
    public var isRepost: Bool
    /// Hashtags as the source supplied them (X entities, Mastodon tags), without `#`,
    /// in order of appearance; nil when the source supplied none and text extraction applies.
    public var hashtags: [String]?

    public init(id: String, createdAtMillis: Int64, text: String, lang: String? = nil,
                authorID: String? = nil, source: String, isRepost: Bool = false,
                hashtags: [String]? = nil) {
        self.id = id
        self.createdAtMillis = createdAtMillis
        self.text = text
        self.lang = lang
        self.authorID = authorID
        self.source = source
        self.isRepost = isRepost
        self.hashtags = hashtags
    }
}
