//! Sample items: deterministic, Hackney-shaped DynamoDB items for every entity, for the demo,
//! the tests and the benchmarks. Each entity's generator lives with the entity
//! (`<entity>/sample.rs`, reached through [`Entity::sample`](super::Entity::sample)); this module
//! holds what they share: the seeded choices, the vocabulary of places and tenure types, and the
//! ids that link them.
//!
//! Item `n` of an entity is always the same item: it is generated from an RNG seeded with the
//! entity and `n`, and its `id` is a UUID-looking string derived from them. The three entities
//! are linked by `n`: person `n` holds tenure `n`, tenure `n` is of asset `n` and lists person
//! `n` (and sometimes persons `n + 1`, `n + 2`) among its household members under their own
//! names, asset `n`'s current tenure is tenure `n`. Items are 0.9–2 KB and deliberately untidy,
//! the way real tables are: names with accents, apostrophes, hyphens and non-Latin scripts;
//! optional attributes sometimes absent, sometimes `NULL`, sometimes empty strings or lists;
//! attributes no factory reads; and now and then a money value with 38 significant digits.

use aws_sdk_dynamodb::types::AttributeValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::source::item::Item;

pub(crate) const PERSON: u64 = 0x7065_7273_6f6e_7321;
pub(crate) const TENURE: u64 = 0x7465_6e75_7265_7321;
pub(crate) const ASSET: u64 = 0x6173_7365_7473_2121;

/// The `id` of person `n`.
pub fn person_id(n: u64) -> String {
    stable_uuid(PERSON, n)
}

/// The `id` of tenure `n`.
pub fn tenure_id(n: u64) -> String {
    stable_uuid(TENURE, n)
}

/// The `id` of asset `n`.
pub fn asset_id(n: u64) -> String {
    stable_uuid(ASSET, n)
}

// ---------------------------------------------------------------------------------------------
// Vocabulary shared by the entities

#[rustfmt::skip]
pub(crate) const STREETS: &[&str] = &[
    "Mare Street", "Upper Clapton Road", "Kingsland High Street", "Stoke Newington Church Street",
    "Dalston Lane", "Well Street", "Chatsworth Road", "Amhurst Road", "St. Mary's Road",
    "Homerton High Street", "Lea Bridge Road", "Queensbridge Road", "Wick Road", "Cazenove Road",
];
#[rustfmt::skip]
pub(crate) const BLOCKS: &[&str] = &[
    "Beaumont Court", "Nightingale House", "Pembury Estate", "Kings Crescent", "Frampton Park",
    "Holly Street", "Gascoyne Estate", "Bayford Street", "De Beauvoir Estate", "Wenlock Barn",
    "Woodberry Down", "Mother's Square", "Shakespeare Walk", "Kingsmead Estate",
];
#[rustfmt::skip]
pub(crate) const POSTCODES: &[&str] = &[
    "E5 8BQ", "E8 1DY", "N16 7UY", "E9 6EA", "N1 5SB", "E2 8HA", "N4 2LP", "E5 0LL", "E8 3PH",
    "N16 0NL", "E9 7DD", "N1 6NU",
];
/// (code, description) pairs of tenure types.
pub(crate) const TENURE_TYPES: &[(&str, &str)] = &[
    ("SEC", "Secure"),
    ("INT", "Introductory"),
    ("NON", "Non-Secure"),
    ("LEA", "Leasehold (RTB)"),
    ("FRE", "Freehold"),
    ("TAF", "Temporary Accommodation"),
    ("SPS", "Shared Owners"),
];
pub(crate) const OFFICERS: &[(&str, &str)] = &[
    ("Kwame", "Mensah"),
    ("Siân", "O'Connell"),
    ("Gülşen", "Arslan"),
    ("Ruth", "Levy"),
    ("Dámaso", "Pérez-Ortega"),
];

// ---------------------------------------------------------------------------------------------
// Generators. Every builder yields `Value` (`None` = attribute absent), so optional attributes
// read inline: `("placeOfBirth", g.maybe().of(s(g.pick(PLACES_OF_BIRTH))))`.

/// An attribute value, or `None` to leave the attribute out.
pub(crate) type Value = Option<AttributeValue>;

pub(crate) fn s(text: &str) -> Value {
    Some(AttributeValue::S(text.to_owned()))
}

pub(crate) fn n_(text: &str) -> Value {
    Some(AttributeValue::N(text.to_owned()))
}

pub(crate) fn b(value: bool) -> Value {
    Some(AttributeValue::Bool(value))
}

pub(crate) fn null() -> Value {
    Some(AttributeValue::Null(true))
}

/// A list of the values that are set.
pub(crate) fn list(values: Vec<Value>) -> Value {
    Some(AttributeValue::L(values.into_iter().flatten().collect()))
}

/// A map of the attributes that are set.
pub(crate) fn map(pairs: Vec<(&str, Value)>) -> Value {
    Some(AttributeValue::M(obj(pairs)))
}

/// An item of the attributes that are set.
pub(crate) fn obj(pairs: Vec<(&str, Value)>) -> Item {
    pairs
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect()
}

pub(crate) fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub(crate) fn uprn(n: u64) -> String {
    format!("1000{:08}", (n * 31) % 100_000_000)
}

pub(crate) fn payment_reference(n: u64) -> String {
    format!("{:010}", (n * 7_919 + 1_000_000_000) % 10_000_000_000)
}

pub(crate) fn property_reference(n: u64) -> String {
    format!("{:08}", (n * 7) % 100_000_000)
}

/// SplitMix64's finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A UUID-looking id, stable for (`salt`, `n`), distinct for every `n` below 2^48 (the last group
/// is `n` times an odd constant modulo 2^48, a bijection).
pub(crate) fn stable_uuid(salt: u64, n: u64) -> String {
    let high = mix(salt ^ mix(n));
    let low = (n.wrapping_mul(0x5851_F42D_4C95_7F2D) ^ mix(salt)) & 0xFFFF_FFFF_FFFF;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xFFFF,
        high & 0xFFF,
        0x8000 | ((high >> 48) & 0x3FFF),
        low
    )
}

/// What an optional attribute of a generated item holds.
pub(crate) enum Slot {
    Set,
    Absent,
    Null,
    Empty,
}

impl Slot {
    /// The attribute's value in this slot: `value`, left out, `NULL` or `""`.
    pub(crate) fn of(self, value: Value) -> Value {
        match self {
            Slot::Set => value,
            Slot::Absent => None,
            Slot::Null => null(),
            Slot::Empty => s(""),
        }
    }
}

/// A seeded RNG with the choices the generators make.
pub(crate) struct Gen {
    rng: StdRng,
}

impl Gen {
    pub(crate) fn new(entity: u64, n: u64) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(mix(entity ^ mix(n))),
        }
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A number in `low..=high`.
    pub(crate) fn range(&mut self, low: u64, high: u64) -> u64 {
        self.rng.random_range(low..=high)
    }

    pub(crate) fn pick<T: Copy>(&mut self, values: &[T]) -> T {
        values[self.rng.random_range(0..values.len())]
    }

    /// `YYYY-MM-DD` in the given years.
    pub(crate) fn date(&mut self, from_year: u64, to_year: u64) -> String {
        let year = self.range(from_year, to_year);
        format!("{year}-{:02}-{:02}", self.range(1, 12), self.range(1, 28))
    }

    pub(crate) fn full_address(&mut self) -> String {
        let flat = self.range(1, 120);
        let (block, street) = (self.pick(BLOCKS), self.pick(STREETS));
        let postcode = self.pick(POSTCODES);
        format!("Flat {flat}, {block}, {street}, Hackney, London {postcode}")
    }

    /// A balance: usually pounds and pence, now and then 38 significant digits.
    pub(crate) fn money(&mut self) -> String {
        if self.chance(0.04) {
            let digits: String = (0..38)
                .map(|i| char::from(b'0' + self.rng.random_range(u8::from(i == 0)..=9)))
                .collect();
            let point = self.rng.random_range(20..36);
            let sign = if self.chance(0.5) { "-" } else { "" };
            return format!("{sign}{}.{}", &digits[..point], &digits[point..]);
        }
        let pence = self.rng.random_range(-250_000i64..=80_000);
        let sign = if pence < 0 { "-" } else { "" };
        let pence = pence.unsigned_abs();
        format!("{sign}{}.{:02}", pence / 100, pence % 100)
    }

    /// A weekly charge in pounds and pence.
    pub(crate) fn small_money(&mut self) -> String {
        let pence = self.range(0, 25_000);
        format!("{}.{:02}", pence / 100, pence % 100)
    }

    /// Usually set; otherwise absent, `NULL` or an empty string, as in real tables.
    pub(crate) fn maybe(&mut self) -> Slot {
        if self.chance(0.8) {
            Slot::Set
        } else {
            self.unset_slot()
        }
    }

    /// Usually set; otherwise absent or `NULL` (services never write `""` for a map).
    pub(crate) fn maybe_map(&mut self) -> Slot {
        match self.maybe() {
            Slot::Empty => Slot::Null,
            slot => slot,
        }
    }

    /// Set with probability `p`, otherwise absent.
    pub(crate) fn sometimes(&mut self, p: f64) -> Slot {
        if self.chance(p) {
            Slot::Set
        } else {
            Slot::Absent
        }
    }

    /// Set when the person has preferred names; otherwise absent, `NULL` or `""`.
    pub(crate) fn preferred(&mut self, preferred: bool) -> Slot {
        if preferred {
            Slot::Set
        } else {
            self.unset_slot()
        }
    }

    pub(crate) fn unset_slot(&mut self) -> Slot {
        match self.range(0, 2) {
            0 => Slot::Absent,
            1 => Slot::Null,
            _ => Slot::Empty,
        }
    }

    /// An attribute that is not set: absent, `NULL` or `""`.
    pub(crate) fn unset(&mut self) -> Value {
        self.unset_slot().of(None)
    }

    /// A map attribute that is not set: absent or `NULL`.
    pub(crate) fn unset_map(&mut self) -> Value {
        if self.chance(0.5) { null() } else { None }
    }
}
