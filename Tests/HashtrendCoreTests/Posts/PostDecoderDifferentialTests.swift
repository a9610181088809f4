import Foundation
import Testing
@testable import HashtrendCore

/// The scanner-based decoder against Foundation's JSONSerialization: the same lines, the fields picked
/// independently from Foundation's object tree with the rules of docs/input-formats.md.
@Suite struct PostDecoderDifferentialTests {
    struct Fields: Equatable, CustomStringConvertible {
        var id: String?, createdAt: Int64?, text: String?, lang: String?, author: String?
        var isRepost: Bool, hashtags: [String]?
        var description: String { "\(id ?? "-") \(createdAt ?? -1) \(lang ?? "-") \(author ?? "-") rt=\(isRepost) \(hashtags ?? []) \(text ?? "-")" }
    }

    static func tags(_ entities: Any?, key: String) -> [String]? {
        guard let e = entities as? [String: Any] else { return nil }
        return ((e["hashtags"] as? [[String: Any]]) ?? []).compactMap { $0[key] as? String }
    }

    static func foundationFields(_ line: [UInt8], format: PostFormat) throws -> Fields {
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        switch format {
        case .canonical:
            return Fields(id: obj["id"] as? String, createdAt: (obj["created_at"] as? String).flatMap(EventTime.parse),
                          text: obj["text"] as? String, lang: obj["lang"] as? String, author: obj["author_id"] as? String,
                          isRepost: obj["is_repost"] as? Bool ?? false, hashtags: obj["hashtags"] as? [String])
        case .x2:
            let d = try #require(obj["data"] as? [String: Any])
            var text = d["text"] as? String
            var hashtags = tags(d["entities"], key: "tag")
            var isRepost = false
            for r in (d["referenced_tweets"] as? [[String: Any]]) ?? [] where r["type"] as? String == "retweeted" {
                isRepost = true
                let included = ((obj["includes"] as? [String: Any])?["tweets"] as? [[String: Any]]) ?? []
                if let o = included.first(where: { $0["id"] as? String == r["id"] as? String }) {
                    text = o["text"] as? String
                    hashtags = tags(o["entities"], key: "tag")
                }
            }
            return Fields(id: d["id"] as? String, createdAt: (d["created_at"] as? String).flatMap(EventTime.parse),
                          text: text, lang: d["lang"] as? String, author: d["author_id"] as? String,
                          isRepost: isRepost, hashtags: hashtags)
        case .x1:
            let rt = obj["retweeted_status"] as? [String: Any]
            let c = rt ?? obj
            let text: String?
            let hashtags: [String]?
            if let ext = c["extended_tweet"] as? [String: Any] {
                text = ext["full_text"] as? String
                hashtags = tags(ext["entities"], key: "text")
            } else {
                text = (c["full_text"] as? String) ?? (c["text"] as? String)
                hashtags = tags(c["entities"], key: "text")
            }
            return Fields(id: obj["id_str"] as? String, createdAt: (obj["timestamp_ms"] as? String).flatMap { Int64($0) },
                          text: text, lang: obj["lang"] as? String,
                          author: (obj["user"] as? [String: Any])?["id_str"] as? String,
                          isRepost: rt != nil, hashtags: hashtags)
        }
    }

    @Test(arguments: PostFormat.allCases)
    func agreesWithJSONSerialization(format: PostFormat) throws {
        var g = PostGenerator(seed: 2026, startMillis: 1_795_613_152_000, ratePerSecond: 300, disorderMillis: 1500)
        g.retweetShare = 0.2
        var d = PostDecoder()
        for _ in 0..<1500 {
            let line = PostGenerator.encode(g.next(), format: format)
            let posts = try d.decode(line)
            try #require(posts.count == 1)
            let p = posts[0]
            let mine = Fields(id: p.id, createdAt: p.createdAtMillis, text: p.text, lang: p.lang, author: p.authorID,
                              isRepost: p.isRepost, hashtags: p.hashtags)
            let theirs = try Self.foundationFields(line, format: format)
            #expect(mine == theirs, "\(String(decoding: line, as: UTF8.self))")
        }
    }

    /// Damaged lines: the scanner and Foundation agree on which are valid JSON.
    @Test func agreesOnValidityOfDamagedLines() throws {
        var g = PostGenerator(seed: 17, startMillis: 1_795_613_152_000, ratePerSecond: 300)
        var rng = SeededRandom(seed: 99)
        let pieces = Array("{}[]\",:\\ 0123456789.eE+-truefalsenull".utf8)
        var valid = 0, invalid = 0
        for i in 0..<3000 {
            var line = PostGenerator.encode(g.next(), format: PostFormat.allCases[i % 3])
            let at = rng.below(line.count)
            // Foundation rejects lone UTF-16 surrogates, which the scanner turns into U+FFFD (documented):
            // leave out damage that lands inside a \u escape.
            if (max(0, at - 6)...at).contains(where: { $0 + 1 < line.count && line[$0] == UInt8(ascii: "\\") && line[$0 + 1] == UInt8(ascii: "u") }) {
                continue
            }
            switch rng.below(3) {
            case 0: line[at] = pieces[rng.below(pieces.count)]
            case 1: line.remove(at: at)
            default: line.insert(pieces[rng.below(pieces.count)], at: at)
            }
            let foundationOK = (try? JSONSerialization.jsonObject(with: Data(line), options: [.fragmentsAllowed])) != nil
            let mineOK = line.withUnsafeBufferPointer { b -> Bool in
                guard JSONScanner.firstInvalidUTF8(in: b) == nil else { return false }
                var s = JSONScanner(b)
                do throws(JSONScanError) { try s.skipValue(); try s.finish(); return true } catch { return false }
            }
            #expect(mineOK == foundationOK, "\(String(decoding: line, as: UTF8.self))")
            if mineOK { valid += 1 } else { invalid += 1 }
        }
        #expect(valid > 300 && invalid > 300)
    }
}
