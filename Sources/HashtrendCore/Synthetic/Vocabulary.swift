/// Words the synthetic generator builds posts from. Written for Hashtrend; none of it is real data.
/// Nothing here contains `#`, `@` or `://`, so the only hashtags in a generated text are the ones the
/// generator places (and claims in its entities).
enum Vocabulary {
    struct Language {
        let code: String
        let openers: [String]
        let subjects: [String]
        let closers: [String]
    }

    static let languages: [(weight: Int, lang: Language)] = [
        (50, Language(code: "en",
            openers: ["Just finished reading about", "Can't believe what happened with", "Anyone else watching",
                      "Big news today for", "Still thinking about", "Loving the new", "Hot take on",
                      "Morning coffee and", "Great thread on", "Who else is excited about",
                      "Quick reminder about", "Honest question about"],
            subjects: ["the game last night", "the product launch", "this weather", "the conference keynote",
                       "the new release", "the \"final\" episode", "my commute", "the election debate",
                       "the match & the fans", "our open-source project", "the concert downtown",
                       "the price of coffee"],
            closers: ["What a day.", "Thoughts?", "Not sure how I feel about it.", "Can't wait for more!",
                      "That's all for now.", "10/10 would recommend.", "Unreal.", "Back to work I guess."])),
        (20, Language(code: "es",
            openers: ["¡Qué increíble", "Hoy hablamos de", "No puedo creer lo de", "Pensando en",
                      "Me encanta", "Gran noticia sobre", "¿Alguien más vio"],
            subjects: ["el partido de anoche", "la nueva versión", "el clima de hoy", "la conferencia",
                       "el concierto en Madrid", "la final del torneo", "el café de la mañana"],
            closers: ["¡Vamos!", "¿Qué opinan?", "Increíble.", "Seguimos.", "Qué día más largo."])),
        (15, Language(code: "ja",
            openers: ["今日は", "やっと", "みんな見た？", "速報：", "最近ずっと"],
            subjects: ["東京で雨が降っています", "新しいアルバムが出ました", "試合が始まりました",
                       "カフェで作業中です", "桜が咲き始めました", "新作ゲームを遊んでいます"],
            closers: ["楽しみ！", "すごい。", "また明日。", "最高でした。", "どう思う？"])),
        (10, Language(code: "ar",
            openers: ["صباح الخير", "خبر عاجل عن", "أفكر في", "لا أصدق", "مساء الخير"],
            subjects: ["المباراة الليلة", "الطقس اليوم", "المؤتمر الجديد", "الإصدار الجديد", "القهوة العربية"],
            closers: ["رائع!", "ما رأيكم؟", "إلى اللقاء.", "يوم جميل."])),
        (5, Language(code: "pt",
            openers: ["Que jogo", "Pensando sobre", "Adorei", "Notícia boa sobre"],
            subjects: ["o jogo de ontem", "a nova versão", "o show no Rio", "o café da manhã"],
            closers: ["Demais!", "O que vocês acham?", "Bom dia."])),
    ]

    static let emoji: [String] = ["🎉", "🔥", "😂", "👍🏽", "❤️", "🚀", "☕", "🇯🇵", "⚽", "🙏", "✨"]

    /// Head of the hashtag vocabulary, most popular first. Each entry lists case/normalization variants
    /// of one counting key (NFC + lower-case); the first spelling is the common one. `cafe\u{301}` is the
    /// decomposed form of `café`, which counting must fold into the same tag.
    static let headTags: [[String]] = [
        ["SwiftLang", "swiftlang", "SWIFTLANG"], ["WorldCup", "worldcup", "WORLDCUP"], ["AI", "ai"],
        ["MachineLearning", "machinelearning"], ["OpenSource", "opensource"], ["Music", "music"],
        ["東京"], ["Fútbol", "fútbol", "FÚTBOL"], ["NowPlaying", "nowplaying"], ["Travel", "travel"],
        ["Kafka", "kafka"], ["Climate", "climate"], ["日本"], ["café", "cafe\u{301}", "Café"],
        ["مرحبا"], ["Python", "python"], ["Photography"], ["Gaming", "gaming"], ["España", "españa"],
        ["アニメ"], ["München", "MÜNCHEN"], ["100DaysOfCode"], ["TBT", "tbt"], ["FridayFeeling"],
        ["Москва", "москва"], ["Linux"], ["رمضان"], ["DevOps", "devops"], ["Ελλάδα"], ["K_Pop", "k_pop"],
        ["Coffee", "coffee"], ["Elections2026"], ["Rust", "rust"], ["Brasil", "brasil"], ["NBA", "nba"],
    ]

    /// Tags that rise in bursts (one per burst, in turn).
    static let risingTags: [String] = ["Eclipse2026", "LaunchDay", "Aurora", "BreakingNews", "SuperMoon"]

    /// Long tail after the head: `topic1`, `topic2`, ... (each has a letter, so each is a valid hashtag).
    static let tailSize = 2000
}
