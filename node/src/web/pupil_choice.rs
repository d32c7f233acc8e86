//! Whose page it is, for the pages that show one person's week or work: the viewer's own, a pupil
//! named in the address (`?pupil=ID`, for whoever the policy lets read that pupil's records), or,
//! for a guardian, one child at a time with links to the others. The operations behind the pages
//! decide whether the viewer may see the pupil; this module only picks whom to ask for.

use maud::{Markup, html};

use super::Viewer;
use super::i18n::Translator;
use crate::school::RosterIndex;

/// Whom a page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// The viewer's own.
    Me,
    /// A pupil's, by id: named in the address, or a guardian's child chosen for them.
    Pupil(String),
    /// Nobody: the viewer has nothing of their own here and no child to show.
    Nobody,
}

/// Whom to show: the pupil the address names (an empty `?pupil=` names nobody, and the viewer's
/// own id is their own page), else the viewer's own when `own_applies`, else a guardian's first
/// child, else nobody.
pub fn choose(
    roster: &RosterIndex,
    viewer: &Viewer,
    named: Option<&str>,
    own_applies: bool,
) -> Shown {
    match named.filter(|pupil| !pupil.is_empty()) {
        Some(pupil) if pupil == viewer.caller.user_id => return Shown::Me,
        Some(pupil) => return Shown::Pupil(pupil.to_owned()),
        None => {}
    }
    if own_applies {
        return Shown::Me;
    }
    match children_of(roster, viewer).into_iter().next() {
        Some((child, _)) => Shown::Pupil(child),
        None => Shown::Nobody,
    }
}

/// The viewer's children (as their guardian) with their names, in the roster's order.
pub fn children_of(roster: &RosterIndex, viewer: &Viewer) -> Vec<(String, String)> {
    roster
        .children
        .get(&viewer.caller.user_id)
        .into_iter()
        .flatten()
        .map(|child| {
            let name = roster
                .users
                .user(child)
                .map(|user| user.display_name())
                .unwrap_or_else(|| child.clone());
            (child.clone(), name)
        })
        .collect()
}

/// Links to each of the viewer's children when they have more than one, the one shown marked as
/// the current page, so that a guardian moves between children without typing an address. `link`
/// makes a child's address.
pub fn child_links(
    t: &Translator,
    children: &[(String, String)],
    shown: &Shown,
    link: impl Fn(&str) -> String,
) -> Markup {
    html! {
        @if children.len() > 1 {
            nav class="child-choice" aria-label=(t.text("pupil-choice-label")) {
                ul class="inline-list" {
                    @for (child, name) in children {
                        @let current = *shown == Shown::Pupil(child.clone());
                        li {
                            a href=(link(child)) aria-current=[current.then_some("page")] { (name) }
                        }
                    }
                }
            }
        }
    }
}
