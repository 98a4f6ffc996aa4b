//! `POST /notes` and `GET /notes`: the demo of an unsafe method that a browser session (or
//! a bearer token) authenticates. The guards refuse a session-authenticated `POST` that
//! shows no same-origin signal (see the library's `guards/user/session.rs`), so a sibling subdomain cannot write a note
//! with the victim's cookie.
//!
//! Decisions:
//! - The notes live in memory, in Rocket state keyed by the issuer and the subject together
//!   ([`Identity::subject_key`](rocket_keycloak::Identity::subject_key)): with several realms
//!   accepted, two realms may hand out the same `sub`, and one realm's user must never read
//!   another's notes. They are bounded (users, notes per user, characters per note): a
//!   demo, not a store; they end with the process.
//!   When the user table is full, a new user's first note evicts another user's notes
//!   rather than growing without bound.
//! - Both answers carry the user's own data, so they are `no-store`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{Route, State, get, post, routes};
use serde::{Deserialize, Serialize};

use rocket_keycloak::{AuthenticatedUser, ErrorPage, Issuer, NoStore, Subject};

/// Users with notes, at most.
const MAX_USERS: usize = 1_000;
/// Notes kept per user; the oldest goes first.
const MAX_NOTES_PER_USER: usize = 20;
/// Characters per note.
const MAX_NOTE_CHARS: usize = 500;

/// Who a note belongs to: the issuer and the subject together.
type Owner = (Issuer, Subject);

/// The notes of every user, by issuer and subject (Rocket state).
#[derive(Default)]
pub struct Notes(Mutex<HashMap<Owner, VecDeque<String>>>);

impl Notes {
    /// Adds a note for `owner`; returns that user's notes, oldest first.
    fn add(&self, owner: (&Issuer, &Subject), text: String) -> Vec<String> {
        let owner = (owner.0.clone(), owner.1.clone());
        let mut users = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !users.contains_key(&owner) && users.len() >= MAX_USERS {
            let evicted = users.keys().next().cloned();
            if let Some(evicted) = evicted {
                users.remove(&evicted);
            }
        }
        let notes = users.entry(owner).or_default();
        if notes.len() >= MAX_NOTES_PER_USER {
            notes.pop_front();
        }
        notes.push_back(text);
        notes.iter().cloned().collect()
    }

    /// The notes of `owner`, oldest first.
    fn of(&self, owner: (&Issuer, &Subject)) -> Vec<String> {
        let users = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        users
            .get(&(owner.0.clone(), owner.1.clone()))
            .map(|notes| notes.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The body of `POST /notes`.
#[derive(Deserialize)]
struct NewNote {
    text: String,
}

/// The answer of both routes.
#[derive(Serialize)]
struct NoteList {
    notes: Vec<String>,
}

/// The routes of this module (they need [`Notes`] managed).
pub fn routes() -> Vec<Route> {
    routes![add_note, list_notes]
}

#[post("/notes", data = "<note>")]
fn add_note(
    user: &AuthenticatedUser,
    note: Json<NewNote>,
    notes: &State<Notes>,
) -> Result<NoStore<Json<NoteList>>, ErrorPage> {
    let text = note.into_inner().text;
    let length = text.chars().count();
    if length == 0 || length > MAX_NOTE_CHARS {
        let message = format!("A note has 1 to {MAX_NOTE_CHARS} characters.");
        return Err(ErrorPage::new(Status::BadRequest, message));
    }
    Ok(NoStore(Json(NoteList { notes: notes.add(user.subject_key(), text) })))
}

#[get("/notes")]
fn list_notes(user: &AuthenticatedUser, notes: &State<Notes>) -> NoStore<Json<NoteList>> {
    NoStore(Json(NoteList { notes: notes.of(user.subject_key()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_bounded_per_user_and_in_users() {
        let notes = Notes::default();
        let issuer = Issuer::new("https://sso.example/realms/main");
        let a = Subject::new("a");
        for i in 0..MAX_NOTES_PER_USER + 5 {
            notes.add((&issuer, &a), format!("note {i}"));
        }
        let kept = notes.of((&issuer, &a));
        assert_eq!(kept.len(), MAX_NOTES_PER_USER);
        assert_eq!(kept[0], "note 5", "the oldest went first");
        for i in 0..MAX_USERS + 10 {
            notes.add((&issuer, &Subject::new(format!("user {i}"))), "x".into());
        }
        assert_eq!(notes.0.lock().unwrap().len(), MAX_USERS);
    }
}
