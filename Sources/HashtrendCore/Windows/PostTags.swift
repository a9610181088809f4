/// Which hashtags a post counts (DESIGN.md, "Hashtags and counting"): the source's own (X entities,
/// Mastodon tags) when it supplied them, otherwise twitter-text extraction from the text. `display` is
/// the tag as written; `key` is its counting key (NFC, lower-cased).
public enum PostTags {
    public static func tags(of post: Post) -> [WindowTag] {
        if let supplied = post.hashtags {
            return supplied.map { WindowTag(key: HashtagKey.key($0), display: $0) }
        }
        return extracted(from: post.text)
    }

    /// The hashtags as written in the text, in order of appearance, without `#`.
    public static func written(in post: Post, preferSource: Bool = true) -> [String] {
        if preferSource, let supplied = post.hashtags { return supplied }
        return extracted(from: post.text).map(\.display)
    }

    static func extracted(from text: String) -> [WindowTag] {
        var text = text
        return text.withUTF8 { buf in
            var out: [WindowTag] = []
            HashtagExtractor.forEachHashtag(utf8: buf) { tag in
                out.append(WindowTag(key: HashtagKey.key(utf8: tag), display: String(decoding: tag, as: UTF8.self)))
            }
            return out
        }
    }
}

extension WindowInput {
    /// The engine's view of one decoded post at `partition`/`offset`.
    public init(post: Post, partition: Int32, offset: Int64) {
        self.init(partition: partition, offset: offset, postID: post.id, eventTimeMillis: post.createdAtMillis,
                  tags: PostTags.tags(of: post))
    }
}

extension WindowEngine {
    /// Feeds one post lent by `PostDecoder.decode(line:views:)`: the same as
    /// `process(WindowInput(post: view.post, ...))`, without building the post.
    public func process(_ post: PostView, partition: Int32, offset: Int64) -> [TrendWindow] {
        post.withID { id in
            process(partition: partition, offset: offset, postID: id, eventTimeMillis: post.createdAtMillis,
                    tags: post.forEachHashtag)
        }
    }
}
