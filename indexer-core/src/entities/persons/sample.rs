//! Sample Persons items (see [`samples`](crate::entities::samples)).

use aws_sdk_dynamodb::types::AttributeValue;

use crate::entities::samples::*;
use crate::source::item::Item;

/// Who a first name is usually given to, so titles fit names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Usually {
    Female,
    Male,
    Either,
}

/// Titles that fit each kind of name (`Dr` fits every one).
fn titles(usually: Usually) -> &'static [&'static str] {
    match usually {
        Usually::Female => &["Mrs", "Ms", "Miss", "Dr"],
        Usually::Male => &["Mr", "Mr", "Dr", "Rev"],
        Usually::Either => &["Mx", "Dr"],
    }
}

#[rustfmt::skip]
const FIRST_NAMES: &[(&str, Usually)] = {
    use Usually::{Either as X, Female as F, Male as M};
    &[
        ("Zoë", F), ("José", M), ("Siobhán", F), ("Ayşe", F), ("Mehmet", M), ("Chloé", F),
        ("Olumide", X), ("Thị Ánh", F), ("Björn", M), ("Łukasz", M), ("François", M),
        ("Αλέξανδρος", M), ("Мария", F), ("محمد", M), ("王芳", F), ("Priya", F), ("Kwame", M),
        ("Aisha", F), ("Renée", F), ("Søren", M), ("Yusuf", M), ("Mary-Jane", F), ("Jean-Luc", M),
        ("Fatoumata", F), ("Dáithí", M), ("Hannah", F), ("Oluwaseun", X), ("Ngozi", F),
        ("David", M), ("Sarah", F), ("Mohammed", M), ("Emily", F), ("Tomás", M), ("Ahmet", M),
        ("Grace", F), ("Chidi", X), ("Ruth", F), ("Bilal", M), ("Alex", X), ("Sam", X),
    ]
};
#[rustfmt::skip]
const SURNAMES: &[&str] = &[
    "O'Brien", "D'Souza", "Smith-Jones", "Müller", "Nkemelu", "Yılmaz", "Kowalczyk",
    "Ó Súilleabháin", "Papadopoulos", "Иванова", "陈", "Al-Rashid", "MacDonald", "N'Diaye",
    "García Márquez", "Thompson", "Okafor", "Begum", "Ahmed", "Levy", "Nguyễn", "Øvergård",
    "Adébáyọ̀", "Kaur", "Mensah", "Da Silva", "Brown", "Williams", "Hussain", "Taylor",
    "Ní Bhriain", "Katz", "Özdemir", "St. John", "Cohen", "Ramírez",
];
#[rustfmt::skip]
const PLACES_OF_BIRTH: &[&str] = &[
    "London", "Lagos", "Dhaka", "İstanbul", "Kingston", "Kraków", "Dublin", "Accra", "Mumbai",
    "Thessaloníki", "Hackney", "Mogadishu", "Ho Chi Minh City", "Cork", "Москва", "广州",
];
#[rustfmt::skip]
const PERSON_TYPES: &[&str] = &[
    "Tenant", "HouseholdMember", "Leaseholder", "Freeholder", "Occupant", "HousingOfficer",
];

/// Person `n`: a Hackney Persons item.
pub fn person(n: u64) -> Item {
    let mut g = Gen::new(PERSON, n);
    let mut tenures = vec![person_tenure(&mut g, n)];
    for _ in 0..g.range(0, 2) {
        let other = g.range(0, 1_000_000);
        tenures.push(person_tenure(&mut g, other));
    }
    let preferred = g.chance(0.25);
    let (firstname, usually) = g.pick(FIRST_NAMES);
    let same_kind: Vec<&str> = FIRST_NAMES
        .iter()
        .filter(|(_, kind)| *kind == usually)
        .map(|(name, _)| *name)
        .collect();
    let (officer_first, officer_last) = g.pick(OFFICERS);
    let main_type = if n % 4 == 1 {
        "HouseholdMember"
    } else {
        "Tenant"
    };
    let requirements = match g.chance(0.15) {
        true => Some(AttributeValue::Ss(vec![
            "Interpreter required".into(),
            "Large print".into(),
        ])),
        false => list(vec![]),
    };
    // A second role, never the first one again.
    let other_type = g.pick(
        PERSON_TYPES
            .iter()
            .filter(|t| **t != main_type)
            .copied()
            .collect::<Vec<_>>()
            .as_slice(),
    );
    // The owning API's spelling; one item in ten was written before it moved to the shared
    // entity and spells the first names in lower case.
    let (first_key, preferred_first_key) = match n % 10 == 7 {
        true => ("firstname", "preferredFirstname"),
        false => ("firstName", "preferredFirstName"),
    };
    let language = g.pick(&[
        "English", "Turkish", "Bengali", "Yoruba", "Polish", "Kurdish",
    ]);
    obj(vec![
        ("id", s(&person_id(n))),
        ("title", g.maybe().of(s(g.pick(titles(usually))))),
        (
            "preferredTitle",
            g.sometimes(0.2).of(s(g.pick(titles(Usually::Either)))),
        ),
        (first_key, s(firstname)),
        ("middleName", g.maybe().of(s(g.pick(&same_kind)))),
        ("surname", s(g.pick(SURNAMES))),
        (
            preferred_first_key,
            g.preferred(preferred).of(s(g.pick(&same_kind))),
        ),
        (
            "preferredMiddleName",
            g.preferred(preferred).of(s(g.pick(&same_kind))),
        ),
        (
            "preferredSurname",
            g.preferred(preferred).of(s(g.pick(SURNAMES))),
        ),
        (
            "dateOfBirth",
            g.maybe().of(s(&format!("{}T00:00:00", g.date(1935, 2008)))),
        ),
        ("placeOfBirth", g.maybe().of(s(g.pick(PLACES_OF_BIRTH)))),
        (
            "personTypes",
            list(vec![s(main_type), g.sometimes(0.3).of(s(other_type))]),
        ),
        ("tenures", list(tenures)),
        ("totalBalance", n_(&g.money())),
        ("isPersonCautionaryAlert", g.maybe().of(b(g.chance(0.08)))),
        ("isTenureCautionaryAlert", g.maybe().of(b(g.chance(0.05)))),
        (
            "versionNumber",
            g.sometimes(0.9).of(n_(&g.range(0, 40).to_string())),
        ),
        // Attributes no factory reads, as real items carry them.
        ("reason", s("Created via Manage My Home")),
        (
            "createdAt",
            s(&format!("{}T10:12:44.401Z", g.date(2018, 2022))),
        ),
        (
            "createdBy",
            map(vec![
                ("name", s(&format!("{officer_first} {officer_last}"))),
                (
                    "email",
                    s(&format!("{}@hackney.example", ascii_lower(officer_last))),
                ),
            ]),
        ),
        (
            "lastModified",
            s(&format!(
                "{}T{:02}:41:07.512Z",
                g.date(2022, 2025),
                g.range(7, 19)
            )),
        ),
        ("dateOfDeath", null()),
        ("gender", g.maybe().of(s(g.pick(&["F", "M", "X", "U"])))),
        (
            "identifications",
            list(vec![map(vec![
                ("identificationType", s("NI")),
                ("value", s(&format!("QQ{:06}C", (n * 7_717) % 1_000_000))),
                ("isOriginalDocumentSeen", b(g.chance(0.6))),
                ("linkToDocument", s("")),
            ])]),
        ),
        (
            "languages",
            list(vec![map(vec![
                ("language", s(language)),
                ("isPrimary", b(true)),
            ])]),
        ),
        ("communicationRequirements", requirements),
        (
            "links",
            list(vec![map(vec![
                (
                    "href",
                    s(&format!("https://contacts.example/people/{}", person_id(n))),
                ),
                ("rel", s("contact-details")),
            ])]),
        ),
    ])
}

fn person_tenure(g: &mut Gen, t: u64) -> Value {
    let (_, description) = g.pick(TENURE_TYPES);
    map(vec![
        ("id", s(&tenure_id(t))),
        ("type", s(description)),
        ("startDate", s(&g.date(1985, 2024))),
        ("endDate", g.maybe().of(s(&g.date(2024, 2035)))),
        ("assetFullAddress", s(&g.full_address())),
        ("assetId", s(&format!("{:08}", t % 100_000_000))),
        ("uprn", s(&uprn(t))),
        ("paymentReference", s(&payment_reference(t))),
        ("propertyReference", g.maybe().of(s(&property_reference(t)))),
        ("postCode", s(g.pick(POSTCODES))),
        ("totalBalance", g.maybe().of(n_(&g.money()))),
    ])
}
