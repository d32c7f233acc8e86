//! The web UI's languages: Finnish, Swedish and English, with every text in Fluent files
//! (`node/locales/{fi,sv,en}/web.ftl`, compiled into the binary), the choice of language per request,
//! and dates and times in each language's own way.
//!
//! The language is the user's choice when they made one (a cookie set by the language links on every
//! page), else the best match of the browser's `Accept-Language`, else Finnish. A test
//! (`node/tests/web_i18n.rs`) fails when a key is missing in a language or unused by the code, so
//! every key the code names is written here as a string literal, never assembled.

use std::sync::OnceLock;

use axum::http::{HeaderMap, header};
use axum_extra::extract::cookie::CookieJar;
use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

use crate::model::common::NodeTime;
use crate::school::calendar::school_local_time_at;

/// The cookie that keeps the user's chosen language. Not secret, so readable by nothing but the
/// node anyway (`HttpOnly`), and kept for a year.
pub const LANGUAGE_COOKIE_NAME: &str = "digione_lang";

/// The languages of the UI, in the order the language links show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Finnish,
    Swedish,
    English,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::Finnish, Language::Swedish, Language::English];

    /// The BCP 47 code, also the value of the `lang` attribute and of the language cookie.
    pub fn code(self) -> &'static str {
        match self {
            Language::Finnish => "fi",
            Language::Swedish => "sv",
            Language::English => "en",
        }
    }

    /// The language's name in itself, for the language links.
    pub fn own_name(self) -> &'static str {
        match self {
            Language::Finnish => "Suomi",
            Language::Swedish => "Svenska",
            Language::English => "English",
        }
    }

    pub fn from_code(code: &str) -> Option<Language> {
        Language::ALL
            .into_iter()
            .find(|language| language.code().eq_ignore_ascii_case(code))
    }

    /// The language's Fluent source, as shipped.
    pub fn fluent_source(self) -> &'static str {
        match self {
            Language::Finnish => include_str!("../../locales/fi/web.ftl"),
            Language::Swedish => include_str!("../../locales/sv/web.ftl"),
            Language::English => include_str!("../../locales/en/web.ftl"),
        }
    }

    /// The language for a request: the chosen one (cookie), else `Accept-Language`, else Finnish.
    pub fn for_request(headers: &HeaderMap) -> Language {
        let chosen = CookieJar::from_headers(headers)
            .get(LANGUAGE_COOKIE_NAME)
            .and_then(|cookie| Language::from_code(cookie.value()));
        if let Some(language) = chosen {
            return language;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .and_then(Language::from_accept_language)
            .unwrap_or(Language::Finnish)
    }

    /// The best of our languages for an `Accept-Language` header, by fluent-langneg's matching
    /// (quality order, then `sv-FI` matching `sv`, and so on).
    pub fn from_accept_language(accept_language: &str) -> Option<Language> {
        let requested = fluent_langneg::accepted_languages::parse(accept_language);
        let available: Vec<LanguageIdentifier> = Language::ALL
            .iter()
            .filter_map(|language| language.code().parse().ok())
            .collect();
        let chosen = fluent_langneg::negotiate_languages(
            &requested,
            &available,
            None,
            fluent_langneg::NegotiationStrategy::Lookup,
        );
        chosen
            .first()
            .and_then(|identifier| Language::from_code(identifier.language.as_str()))
    }
}

/// The compiled bundles of every language, built once.
struct Catalogue {
    finnish: FluentBundle<FluentResource>,
    swedish: FluentBundle<FluentResource>,
    english: FluentBundle<FluentResource>,
}

fn bundle(language: Language) -> FluentBundle<FluentResource> {
    let identifier: LanguageIdentifier = language
        .code()
        .parse()
        .unwrap_or_else(|_| LanguageIdentifier::default());
    let mut bundle = FluentBundle::new_concurrent(vec![identifier]);
    // Unicode isolation marks around placeables help right-to-left scripts, which none of our
    // languages is; without them the HTML is smaller and tests can compare plain text.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(language.fluent_source().to_owned()) {
        Ok(resource) => resource,
        Err((resource, errors)) => {
            tracing::error!(
                language = language.code(),
                ?errors,
                "a Fluent file has errors"
            );
            resource
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            language = language.code(),
            ?errors,
            "a Fluent file repeats keys"
        );
    }
    bundle
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| Catalogue {
        finnish: bundle(Language::Finnish),
        swedish: bundle(Language::Swedish),
        english: bundle(Language::English),
    })
}

/// Texts, dates and times of one language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translator {
    pub language: Language,
}

impl Translator {
    pub fn new(language: Language) -> Self {
        Self { language }
    }

    fn bundle(&self) -> &'static FluentBundle<FluentResource> {
        let catalogue = catalogue();
        match self.language {
            Language::Finnish => &catalogue.finnish,
            Language::Swedish => &catalogue.swedish,
            Language::English => &catalogue.english,
        }
    }

    /// The text of `key`. A missing key shows as the key itself (and is logged), which the key test
    /// keeps from ever shipping.
    pub fn text(&self, key: &'static str) -> String {
        self.format(key, None)
    }

    /// The text of `key` with its variables, e.g. `[("count", 3.into())]`.
    pub fn text_with(
        &self,
        key: &'static str,
        variables: &[(&'static str, FluentValue)],
    ) -> String {
        let mut arguments = FluentArgs::new();
        for (name, value) in variables {
            arguments.set(*name, value.clone());
        }
        self.format(key, Some(&arguments))
    }

    fn format(&self, key: &'static str, arguments: Option<&FluentArgs>) -> String {
        let bundle = self.bundle();
        let Some(pattern) = bundle.get_message(key).and_then(|message| message.value()) else {
            tracing::warn!(key, language = self.language.code(), "missing translation");
            return key.to_owned();
        };
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, arguments, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, ?errors, "a translation did not format cleanly");
        }
        text.into_owned()
    }

    /// A moment of node time as the school's local date and time, the way the language writes it:
    /// `27.11.2026 klo 9.15`, `27.11.2026 kl. 9.15`, `27 Nov 2026, 09:15`.
    pub fn date_time(&self, unix_millis: i64) -> String {
        let Ok(local) = school_local_time_at(NodeTime::from_unix_millis(unix_millis)) else {
            return String::new();
        };
        let (day, month, year) = (local.day(), u8::from(local.month()), local.year());
        let (hour, minute) = (local.hour(), local.minute());
        match self.language {
            Language::Finnish => format!("{day}.{month}.{year} klo {hour}.{minute:02}"),
            Language::Swedish => format!("{day}.{month}.{year} kl. {hour}.{minute:02}"),
            Language::English => {
                let month_name = ENGLISH_MONTHS[usize::from(month).saturating_sub(1) % 12];
                format!("{day} {month_name} {year}, {hour:02}:{minute:02}")
            }
        }
    }

    /// A calendar date the way the language writes it: `8.9.2025`, or `8 Sep 2025`.
    pub fn date(&self, date: crate::model::common::CalendarDate) -> String {
        let date = date.date();
        let (day, month, year) = (date.day(), u8::from(date.month()), date.year());
        match self.language {
            Language::Finnish | Language::Swedish => format!("{day}.{month}.{year}"),
            Language::English => {
                let month_name = ENGLISH_MONTHS[usize::from(month).saturating_sub(1) % 12];
                format!("{day} {month_name} {year}")
            }
        }
    }

    /// A clock time of a lesson (`08:15` in the model) the way the language writes it.
    pub fn clock(&self, hour: u8, minute: u8) -> String {
        match self.language {
            Language::Finnish | Language::Swedish => format!("{hour}.{minute:02}"),
            Language::English => format!("{hour:02}:{minute:02}"),
        }
    }

    /// A size in bytes, rounded for people.
    pub fn file_size(&self, bytes: u64) -> String {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * 1024;
        let decimal = match self.language {
            Language::English => '.',
            Language::Finnish | Language::Swedish => ',',
        };
        if bytes < KIB {
            format!("{bytes} B")
        } else if bytes < MIB {
            format!("{} kB", bytes.div_ceil(KIB))
        } else {
            let tenths = bytes * 10 / MIB;
            format!("{}{decimal}{} MB", tenths / 10, tenths % 10)
        }
    }
}

const ENGLISH_MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_best_supported_language() {
        assert_eq!(
            Language::from_accept_language("sv-FI,sv;q=0.9,en;q=0.5"),
            Some(Language::Swedish)
        );
        assert_eq!(
            Language::from_accept_language("de-DE,en-GB;q=0.8"),
            Some(Language::English)
        );
        assert_eq!(Language::from_accept_language("de"), None);
        let mut headers = HeaderMap::new();
        assert_eq!(Language::for_request(&headers), Language::Finnish);
        headers.insert(header::ACCEPT_LANGUAGE, "en".parse().expect("header"));
        assert_eq!(Language::for_request(&headers), Language::English);
        headers.insert(header::COOKIE, "digione_lang=sv".parse().expect("header"));
        assert_eq!(Language::for_request(&headers), Language::Swedish);
    }

    #[test]
    fn dates_follow_the_language() {
        // 2026-11-27 07:15 UTC is 9.15 in Helsinki (EET, UTC+2).
        let moment = 1_795_763_700_000;
        assert_eq!(
            Translator::new(Language::Finnish).date_time(moment),
            "27.11.2026 klo 9.15"
        );
        assert_eq!(
            Translator::new(Language::Swedish).date_time(moment),
            "27.11.2026 kl. 9.15"
        );
        assert_eq!(
            Translator::new(Language::English).date_time(moment),
            "27 Nov 2026, 09:15"
        );
    }
}
