//! Sample data: deterministic, Hackney-shaped DynamoDB items for Persons, TenureInformation and
//! Assets, and the helpers that create tables and write items into DynamoDB (Local or real).
//!
//! Item `n` of an entity is always the same item: it is generated from an RNG seeded with the
//! entity and `n`, and its `id` is a UUID-looking string derived from them. The three entities
//! are linked by `n`: person `n` holds tenure `n`, tenure `n` is of asset `n` and lists person
//! `n` (and sometimes person `n + 1`) among its household members, asset `n`'s current tenure is
//! tenure `n`. Items are 0.9–2 KB and deliberately untidy, the way real tables are: names with
//! accents, apostrophes, hyphens and non-Latin scripts; optional attributes sometimes absent,
//! sometimes `NULL`, sometimes empty strings or lists; attributes no factory reads; and now and
//! then a money value with 38 significant digits.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters as _;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, WriteRequest,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

/// One DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// The entities sample data exists for, by registry name.
pub const ENTITIES: [&str; 3] = ["persons", "tenures", "assets"];

const PERSON: u64 = 0x7065_7273_6f6e_7321;
const TENURE: u64 = 0x7465_6e75_7265_7321;
const ASSET: u64 = 0x6173_7365_7473_2121;

/// The default DynamoDB table of an entity (`persons` → `Persons`); unknown names get `""`.
pub fn table_for(entity: &str) -> &'static str {
    match entity {
        "persons" => "Persons",
        "tenures" => "TenureInformation",
        "assets" => "Assets",
        _ => "",
    }
}

/// Item `n` of `entity` (`persons`, `tenures` or `assets`); an unknown entity yields an empty
/// item, which every factory rejects for its missing `id`.
pub fn item_for(entity: &str, n: u64) -> Item {
    match entity {
        "persons" => person(n),
        "tenures" => tenure(n),
        "assets" => asset(n),
        _ => Item::new(),
    }
}

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
// Vocabulary

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
#[rustfmt::skip]
const STREETS: &[&str] = &[
    "Mare Street", "Upper Clapton Road", "Kingsland High Street", "Stoke Newington Church Street",
    "Dalston Lane", "Well Street", "Chatsworth Road", "Amhurst Road", "St. Mary's Road",
    "Homerton High Street", "Lea Bridge Road", "Queensbridge Road", "Wick Road", "Cazenove Road",
];
#[rustfmt::skip]
const BLOCKS: &[&str] = &[
    "Beaumont Court", "Nightingale House", "Pembury Estate", "Kings Crescent", "Frampton Park",
    "Holly Street", "Gascoyne Estate", "Bayford Street", "De Beauvoir Estate", "Wenlock Barn",
    "Woodberry Down", "Mother's Square", "Shakespeare Walk", "Kingsmead Estate",
];
#[rustfmt::skip]
const POSTCODES: &[&str] = &[
    "E5 8BQ", "E8 1DY", "N16 7UY", "E9 6EA", "N1 5SB", "E2 8HA", "N4 2LP", "E5 0LL", "E8 3PH",
    "N16 0NL", "E9 7DD", "N1 6NU",
];
/// (code, description) pairs of tenure types.
const TENURE_TYPES: &[(&str, &str)] = &[
    ("SEC", "Secure"),
    ("INT", "Introductory"),
    ("NON", "Non-Secure"),
    ("LEA", "Leasehold (RTB)"),
    ("FRE", "Freehold"),
    ("TAF", "Temporary Accommodation"),
    ("SPS", "Shared Owners"),
];
const TERMINATION_REASONS: &[&str] = &[
    "Tenant's death — succession",
    "Notice to quit",
    "Transfer to another property",
    "Eviction (rent arrears)",
    "Right to Buy completed",
    "Abandonment",
];
#[rustfmt::skip]
const ASSET_TYPES: &[&str] = &[
    "Dwelling", "Dwelling", "Dwelling", "Block", "Estate", "LettableNonDwelling", "Garage",
];
const CHARGE_TYPES: &[(&str, &str)] = &[
    ("Service", "Estate cleaning"),
    ("Service", "Lift maintenance"),
    ("Service", "Communal electricity"),
    ("Service", "Grounds maintenance"),
    ("Rent", "Garage rent"),
    ("Estimate", "Major works"),
];
const WINDOWS: &[&str] = &[
    "Double glazed uPVC",
    "Single glazed timber",
    "Secondary glazing",
];
const HEATING: &[&str] = &[
    "Communal gas",
    "Individual gas boiler",
    "Electric storage",
    "District",
];
const AREA_OFFICES: &[&str] = &["Clapton", "Homerton", "Stamford Hill", "Dalston"];
const OFFICERS: &[(&str, &str)] = &[
    ("Kwame", "Mensah"),
    ("Siân", "O'Connell"),
    ("Gülşen", "Arslan"),
    ("Ruth", "Levy"),
    ("Dámaso", "Pérez-Ortega"),
];

// ---------------------------------------------------------------------------------------------
// Generators. Every builder yields `Value` (`None` = attribute absent), so optional attributes
// read inline: `("title", g.maybe().of(s(g.pick(titles(usually)))))`.

/// An attribute value, or `None` to leave the attribute out.
type Value = Option<AttributeValue>;

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
        ("firstname", s(firstname)),
        ("middleName", g.maybe().of(s(g.pick(&same_kind)))),
        ("surname", s(g.pick(SURNAMES))),
        (
            "preferredFirstname",
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

/// Tenure `n`: a Hackney TenureInformation item.
pub fn tenure(n: u64) -> Item {
    let mut g = Gen::new(TENURE, n);
    let (code, description) = g.pick(TENURE_TYPES);
    let temporary = code == "TAF";
    let active = g.chance(0.75);
    let reason = if active {
        s("")
    } else {
        s(g.pick(TERMINATION_REASONS))
    };
    // One tenure in five has the older, flat `isTerminated` instead of the `terminated` map.
    let flat = g.chance(0.2);
    let mut members = vec![household_member(n, true)];
    for i in 0..g.range(0, 2) {
        members.push(household_member(n + 1 + i, false));
    }
    let temp_accommodation = if temporary {
        let (first, last) = g.pick(OFFICERS);
        let email = format!(
            "{}.{}@hackney.example",
            ascii_lower(first),
            ascii_lower(last)
        );
        map(vec![
            (
                "assignedOfficer",
                map(vec![
                    ("id", s(&stable_uuid(0x0ff1_ce42, g.range(0, 50)))),
                    ("email", s(&email)),
                    ("firstName", s(first)),
                    ("lastName", s(last)),
                ]),
            ),
            (
                "bookingStatus",
                s(g.pick(&["Booked", "Arrived", "Departed", "Cancelled"])),
            ),
        ])
    } else {
        g.unset_map()
    };
    obj(vec![
        ("id", s(&tenure_id(n))),
        ("paymentReference", s(&payment_reference(n))),
        (
            "startOfTenureDate",
            s(&format!("{}T00:00:00", g.date(1985, 2024))),
        ),
        (
            "endOfTenureDate",
            if active {
                g.unset()
            } else {
                s(&g.date(2000, 2025))
            },
        ),
        (
            "tenureType",
            map(vec![("code", s(code)), ("description", s(description))]),
        ),
        ("isActive", b(active)),
        ("isTerminated", if flat { b(!active) } else { None }),
        (
            "terminated",
            match flat {
                true => None,
                false => map(vec![
                    ("isTerminated", b(!active)),
                    ("reasonForTermination", reason),
                ]),
            },
        ),
        ("householdMembers", list(members)),
        (
            "tenuredAsset",
            map(vec![
                ("id", s(&asset_id(n))),
                ("type", s("Dwelling")),
                ("fullAddress", s(&g.full_address())),
                ("uprn", s(&uprn(n))),
                ("propertyReference", s(&property_reference(n))),
                ("isTemporaryAccommodation", b(temporary)),
            ]),
        ),
        ("tempAccommodationInfo", temp_accommodation),
        (
            "versionNumber",
            g.sometimes(0.9).of(n_(&g.range(0, 25).to_string())),
        ),
        // Attributes no factory reads.
        (
            "agreementType",
            map(vec![("code", s("M")), ("description", s("Master Account"))]),
        ),
        (
            "charges",
            map(vec![
                ("rent", n_(&g.small_money())),
                ("serviceCharge", n_(&g.small_money())),
                ("otherCharges", n_(&g.small_money())),
                ("combinedRentCharges", n_(&g.small_money())),
                ("tenancyInsuranceCharge", n_("0")),
                ("currentBalance", n_(&g.money())),
                ("billingFrequency", s("Weekly")),
            ]),
        ),
        (
            "legacyReferences",
            list(vec![
                map(vec![
                    ("name", s("uh_tag_ref")),
                    (
                        "value",
                        s(&format!("{:06}/{:02}", n % 1_000_000, g.range(1, 4))),
                    ),
                ]),
                map(vec![("name", s("u_saff_tenancy")), ("value", s(""))]),
            ]),
        ),
        ("notices", list(vec![])),
        (
            "lastModified",
            s(&format!(
                "{}T{:02}:03:55.018Z",
                g.date(2022, 2025),
                g.range(7, 19)
            )),
        ),
        ("potentialEndDate", g.unset()),
        ("subletEndDate", g.unset()),
        ("evictionDate", g.unset()),
        ("successionDate", g.unset()),
        ("isMutualExchange", b(g.chance(0.05))),
        ("isSublet", b(g.chance(0.02))),
        ("isTenanted", b(g.chance(0.9))),
        ("informHousingBenefitsForChanges", b(g.chance(0.5))),
    ])
}

/// Person `p` as a member of a household: the name and date of birth are person `p`'s own.
fn household_member(p: u64, responsible: bool) -> Value {
    let person = person(p);
    let text = |key: &str| match person.get(key) {
        Some(AttributeValue::S(value)) if !value.is_empty() => Some(value.clone()),
        _ => None,
    };
    let full_name = [text("title"), text("firstname"), text("surname")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let tenure_type = if responsible {
        "Tenant"
    } else {
        "HouseholdMember"
    };
    map(vec![
        ("id", s(&person_id(p))),
        ("type", s("person")),
        ("fullName", s(&full_name)),
        ("isResponsible", b(responsible)),
        ("dateOfBirth", text("dateOfBirth").and_then(|dob| s(&dob))),
        ("personTenureType", s(tenure_type)),
    ])
}

/// Asset `n`: a Hackney Assets item.
pub fn asset(n: u64) -> Item {
    let mut g = Gen::new(ASSET, n);
    let block = g.pick(BLOCKS);
    let block_id = stable_uuid(0xb10c, n % 97);
    let estate_id = stable_uuid(0x00e5_7a7e, n % 13);
    let floors = g.range(1, 21);
    let tmo = g.chance(0.1);
    let (agent, organisation) = match tmo {
        true => ("TMO", "Leathermarket J.M.B. (TMO)"),
        false => ("Hackney Homes", "London Borough of Hackney"),
    };
    let (_, tenure_type) = g.pick(TENURE_TYPES);
    let tenure = map(vec![
        ("id", s(&tenure_id(n))),
        ("paymentReference", s(&payment_reference(n))),
        ("type", s(tenure_type)),
        (
            "startOfTenureDate",
            s(&format!("{}T00:00:00", g.date(1985, 2024))),
        ),
        ("endOfTenureDate", g.unset()),
        ("isActive", b(g.chance(0.8))),
    ]);
    let contract = if g.chance(0.8) {
        let mut charges = Vec::new();
        for i in 0..g.range(0, 2) {
            let (kind, sub) = g.pick(CHARGE_TYPES);
            let amount = if g.chance(0.04) {
                g.money()
            } else {
                g.small_money()
            };
            charges.push(map(vec![
                ("id", s(&stable_uuid(0xc4a9e, n * 8 + i))),
                ("type", s(kind)),
                ("subType", s(sub)),
                ("frequency", s(g.pick(&["Weekly", "Monthly", "Annually"]))),
                ("amount", n_(&amount)),
            ]));
        }
        map(vec![
            ("id", s(&stable_uuid(0xc0ac7, n))),
            (
                "approvalDate",
                s(&format!("{}T09:30:00Z", g.date(2020, 2025))),
            ),
            ("isApproved", b(g.chance(0.7))),
            ("startDate", s(&g.date(2020, 2025))),
            ("endDate", g.unset()),
            ("charges", list(charges)),
        ])
    } else {
        g.unset_map()
    };
    let count = |value: u64| n_(&value.to_string());
    let bedrooms = g.range(0, 5);
    // One asset in five is temporary accommodation; half of those are rooms in a hostel block.
    let temporary = g.chance(0.2);
    let in_block = temporary && g.chance(0.5);
    obj(vec![
        ("id", s(&asset_id(n))),
        ("assetId", s(&property_reference(n))),
        ("assetType", s(g.pick(ASSET_TYPES))),
        ("rootAsset", s("656feda1-896f-b136-da84-163ee4f1be6c")),
        ("parentAssetIds", s(&format!("{estate_id}#{block_id}"))),
        ("isActive", b(g.chance(0.95))),
        ("isAssetCautionaryAlerted", b(g.chance(0.07))),
        (
            "assetAddress",
            map(vec![
                ("uprn", s(&uprn(n))),
                (
                    "addressLine1",
                    s(&format!("Flat {} {block}", g.range(1, 120))),
                ),
                ("addressLine2", s(g.pick(STREETS))),
                ("addressLine3", g.maybe().of(s("Hackney"))),
                ("addressLine4", g.maybe().of(s("London"))),
                ("postCode", s(g.pick(POSTCODES))),
                ("postPreamble", g.unset()),
            ]),
        ),
        ("tenure", g.maybe_map().of(tenure)),
        (
            "assetCharacteristics",
            map(vec![
                ("numberOfBedrooms", count(bedrooms)),
                ("numberOfBedSpaces", count(bedrooms * 2 + g.range(0, 1))),
                ("numberOfCots", count(g.range(0, 2))),
                ("numberOfShowers", count(g.range(0, 1))),
                ("isStepFree", b(g.chance(0.3))),
                ("optionToTax", b(false)),
                (
                    "numberOfLifts",
                    count(if floors > 4 { g.range(1, 3) } else { 0 }),
                ),
                ("numberOfLivingRooms", count(g.range(0, 2))),
                ("yearConstructed", s(&g.range(1890, 2022).to_string())),
                ("windowType", g.maybe().of(s(g.pick(WINDOWS)))),
                ("hasStairs", b(g.chance(0.5))),
                ("numberOfStairs", count(g.range(0, 40))),
                ("hasRampAccess", b(g.chance(0.3))),
                ("hasCommunalAreas", b(g.chance(0.6))),
                ("hasPrivateBathroom", b(g.chance(0.9))),
                ("numberOfBathrooms", count(g.range(0, 2))),
                ("hasPrivateKitchen", b(g.chance(0.9))),
                ("numberOfKitchens", count(g.range(0, 1))),
                ("numberOfFloors", count(g.range(1, 3))),
                ("totalBlockFloors", count(floors)),
                ("heating", s(g.pick(HEATING))),
                (
                    "propertyFactor",
                    g.maybe().of(s(g.pick(&["A", "B", "C", "D"]))),
                ),
                ("isLoftConverted", b(g.chance(0.1))),
                (
                    "epcScore",
                    g.maybe().of(s(g.pick(&["B", "C", "D", "E", "F"]))),
                ),
            ]),
        ),
        (
            "assetManagement",
            map(vec![
                ("agent", s(agent)),
                ("areaOfficeName", s(g.pick(AREA_OFFICES))),
                ("isCouncilProperty", b(!tmo)),
                ("managingOrganisation", s(organisation)),
                (
                    "managingOrganisationId",
                    s(&stable_uuid(0x0a9e, u64::from(tmo))),
                ),
                ("owner", s("LBH")),
                ("isTMOManaged", b(tmo)),
                (
                    "propertyOccupiedStatus",
                    s(g.pick(&["Occupied", "Void", "Occupied"])),
                ),
                ("propertyOccupiedStatusReason", g.unset()),
                ("isNoRepairsMaintenance", b(g.chance(0.03))),
                ("councilTaxType", s(g.pick(&["A", "B", "C", "D"]))),
                ("councilTaxLiability", g.maybe().of(s("Tenant"))),
                // Spelt as the owning service and the search API spell it.
                ("isTemporaryAccomodation", b(temporary)),
                ("isPartOfTemporaryAccommodationBlock", b(in_block)),
                (
                    "temporaryAccommodationParentAssetId",
                    if in_block { s(&block_id) } else { g.unset() },
                ),
            ]),
        ),
        (
            "assetLocation",
            map(vec![
                ("floorNo", s(&g.range(0, floors).to_string())),
                ("totalBlockFloors", count(floors)),
                (
                    "parentAssets",
                    list(vec![map(vec![
                        ("id", s(&block_id)),
                        ("type", s("Block")),
                        ("name", s(block)),
                    ])]),
                ),
            ]),
        ),
        ("assetContract", contract),
        ("versionNumber", g.sometimes(0.9).of(count(g.range(0, 60)))),
    ])
}

// ---------------------------------------------------------------------------------------------
// Building blocks

fn s(text: &str) -> Value {
    Some(AttributeValue::S(text.to_owned()))
}

fn n_(text: &str) -> Value {
    Some(AttributeValue::N(text.to_owned()))
}

fn b(value: bool) -> Value {
    Some(AttributeValue::Bool(value))
}

fn null() -> Value {
    Some(AttributeValue::Null(true))
}

/// A list of the values that are set.
fn list(values: Vec<Value>) -> Value {
    Some(AttributeValue::L(values.into_iter().flatten().collect()))
}

/// A map of the attributes that are set.
fn map(pairs: Vec<(&str, Value)>) -> Value {
    Some(AttributeValue::M(obj(pairs)))
}

/// An item of the attributes that are set.
fn obj(pairs: Vec<(&str, Value)>) -> Item {
    pairs
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect()
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn uprn(n: u64) -> String {
    format!("1000{:08}", (n * 31) % 100_000_000)
}

fn payment_reference(n: u64) -> String {
    format!("{:010}", (n * 7_919 + 1_000_000_000) % 10_000_000_000)
}

fn property_reference(n: u64) -> String {
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
fn stable_uuid(salt: u64, n: u64) -> String {
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
enum Slot {
    Set,
    Absent,
    Null,
    Empty,
}

impl Slot {
    /// The attribute's value in this slot: `value`, left out, `NULL` or `""`.
    fn of(self, value: Value) -> Value {
        match self {
            Slot::Set => value,
            Slot::Absent => None,
            Slot::Null => null(),
            Slot::Empty => s(""),
        }
    }
}

/// A seeded RNG with the choices the generators make.
struct Gen {
    rng: StdRng,
}

impl Gen {
    fn new(entity: u64, n: u64) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(mix(entity ^ mix(n))),
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        self.rng.random_range(low..=high)
    }

    fn pick<T: Copy>(&mut self, values: &[T]) -> T {
        values[self.rng.random_range(0..values.len())]
    }

    /// `YYYY-MM-DD` in the given years.
    fn date(&mut self, from_year: u64, to_year: u64) -> String {
        let year = self.range(from_year, to_year);
        format!("{year}-{:02}-{:02}", self.range(1, 12), self.range(1, 28))
    }

    fn full_address(&mut self) -> String {
        let flat = self.range(1, 120);
        let (block, street) = (self.pick(BLOCKS), self.pick(STREETS));
        let postcode = self.pick(POSTCODES);
        format!("Flat {flat}, {block}, {street}, Hackney, London {postcode}")
    }

    /// A balance: usually pounds and pence, now and then 38 significant digits.
    fn money(&mut self) -> String {
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
    fn small_money(&mut self) -> String {
        let pence = self.range(0, 25_000);
        format!("{}.{:02}", pence / 100, pence % 100)
    }

    /// Usually set; otherwise absent, `NULL` or an empty string, as in real tables.
    fn maybe(&mut self) -> Slot {
        if self.chance(0.8) {
            Slot::Set
        } else {
            self.unset_slot()
        }
    }

    /// Usually set; otherwise absent or `NULL` (services never write `""` for a map).
    fn maybe_map(&mut self) -> Slot {
        match self.maybe() {
            Slot::Empty => Slot::Null,
            slot => slot,
        }
    }

    /// Set with probability `p`, otherwise absent.
    fn sometimes(&mut self, p: f64) -> Slot {
        if self.chance(p) {
            Slot::Set
        } else {
            Slot::Absent
        }
    }

    /// Set when the person has preferred names; otherwise absent, `NULL` or `""`.
    fn preferred(&mut self, preferred: bool) -> Slot {
        if preferred {
            Slot::Set
        } else {
            self.unset_slot()
        }
    }

    fn unset_slot(&mut self) -> Slot {
        match self.range(0, 2) {
            0 => Slot::Absent,
            1 => Slot::Null,
            _ => Slot::Empty,
        }
    }

    /// An attribute that is not set: absent, `NULL` or `""`.
    fn unset(&mut self) -> Value {
        self.unset_slot().of(None)
    }

    /// A map attribute that is not set: absent or `NULL`.
    fn unset_map(&mut self) -> Value {
        if self.chance(0.5) { null() } else { None }
    }
}

/// The size DynamoDB bills for an item, approximately: names and values in UTF-8 bytes, numbers
/// at about one byte per two significant digits, three bytes of overhead per map or list.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(text) => text.len(),
        AttributeValue::N(text) => {
            let digits = text.bytes().filter(u8::is_ascii_digit).count();
            digits.div_ceil(2) + 1
        }
        AttributeValue::B(blob) => blob.as_ref().len(),
        AttributeValue::Ss(values) => values.iter().map(String::len).sum(),
        AttributeValue::Ns(values) => values.iter().map(|v| v.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(values) => values.iter().map(|v| v.as_ref().len()).sum(),
        AttributeValue::L(values) => 3 + values.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(name, v)| 1 + name.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// Writing to DynamoDB

/// The most BatchWriteItem requests in flight at once.
const MAX_IN_FLIGHT: usize = 8;
/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// How many times a batch's unprocessed items are re-sent before giving up.
const MAX_ATTEMPTS: u32 = 12;

/// Creates `name` (hash key `id`, type S, on-demand), with a NEW_AND_OLD_IMAGES stream when
/// `with_stream`, and waits until it is active. Returns `false` when the table already existed.
pub async fn create_table(client: &Client, name: &str, with_stream: bool) -> anyhow::Result<bool> {
    let mut request = client
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest);
    if with_stream {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()?,
        );
    }
    let created = match request.send().await {
        Ok(_) => true,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            false
        }
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("creating table {name}")));
        }
    };
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(Duration::from_secs(120))
        .await
        .with_context(|| format!("waiting for table {name} to become active"))?;
    Ok(created)
}

/// Writes `items` into `table` with BatchWriteItem, 25 items per request and up to 8 requests in
/// flight, re-sending unprocessed items with backoff until none are left. Returns how many items
/// were written.
pub async fn put_items(
    client: &Client,
    table: &str,
    items: impl Iterator<Item = Item>,
) -> anyhow::Result<u64> {
    let mut in_flight = JoinSet::new();
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    let mut items = items.peekable();
    while items.peek().is_some() || !batch.is_empty() {
        batch.extend(items.by_ref().take(BATCH - batch.len()));
        if in_flight.len() >= MAX_IN_FLIGHT {
            written += joined(in_flight.join_next().await)?;
        }
        let requests = std::mem::take(&mut batch)
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, _>>()?;
        in_flight.spawn(write_batch(client.clone(), table.to_owned(), requests));
    }
    while let Some(result) = in_flight.join_next().await {
        written += joined(Some(result))?;
    }
    Ok(written)
}

fn joined(
    result: Option<Result<anyhow::Result<u64>, tokio::task::JoinError>>,
) -> anyhow::Result<u64> {
    match result {
        None => Ok(0),
        Some(joined) => joined.context("a batch writer panicked")?,
    }
}

/// Writes one batch, re-sending its unprocessed items until DynamoDB has taken them all.
async fn write_batch(
    client: Client,
    table: String,
    mut requests: Vec<WriteRequest>,
) -> anyhow::Result<u64> {
    let total = requests.len() as u64;
    let mut attempt = 0;
    while !requests.is_empty() {
        if attempt > 0 {
            let backoff = 25u64 << attempt.min(7);
            let jitter = rand::rng().random_range(0..=backoff);
            tokio::time::sleep(Duration::from_millis(jitter)).await;
        }
        attempt += 1;
        if attempt > MAX_ATTEMPTS {
            bail!(
                "{} items of a batch to {table} still unprocessed after {MAX_ATTEMPTS} attempts",
                requests.len()
            );
        }
        let output = client
            .batch_write_item()
            .request_items(table.clone(), requests)
            .send()
            .await
            .with_context(|| format!("BatchWriteItem to {table}"))?;
        requests = output
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(&table))
            .unwrap_or_default();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_deterministic_and_ids_are_distinct() {
        for entity in ENTITIES {
            assert_eq!(item_for(entity, 42), item_for(entity, 42), "{entity}");
            assert_ne!(item_for(entity, 42), item_for(entity, 43), "{entity}");
        }
        let ids: std::collections::HashSet<String> = (0..5_000).map(person_id).collect();
        assert_eq!(ids.len(), 5_000);
        assert_eq!(person_id(7), person_id(7));
        assert_ne!(person_id(7), tenure_id(7));
        assert_eq!(person_id(7).len(), 36);
    }

    #[test]
    fn items_are_between_0_9_and_2_kilobytes() {
        for entity in ENTITIES {
            let sizes: Vec<usize> = (0..2_000)
                .map(|n| item_size(&item_for(entity, n)))
                .collect();
            let (min, max) = (sizes.iter().min(), sizes.iter().max());
            let mean = sizes.iter().sum::<usize>() / sizes.len();
            assert!(
                min >= Some(&900) && max <= Some(&2_000),
                "{entity}: sizes {min:?}..{max:?}, mean {mean}"
            );
        }
    }

    #[test]
    fn every_sample_item_maps_to_a_document() {
        for entity in ENTITIES {
            let factory = indexer_core::entities::by_name(entity).expect("a registered entity");
            assert_eq!(factory.table(), table_for(entity));
            for n in 0..2_000 {
                let item = item_for(entity, n);
                let document = factory
                    .to_document(&item)
                    .unwrap_or_else(|e| panic!("{entity} {n}: {e}"));
                let body: serde_json::Value =
                    serde_json::from_slice(&document.body).expect("JSON body");
                assert_eq!(body["id"], document.id.as_str());
            }
        }
    }

    #[test]
    fn the_sample_is_as_untidy_as_real_tables() {
        let persons: Vec<Item> = (0..2_000).map(person).collect();
        let count =
            |predicate: &dyn Fn(&Item) -> bool| persons.iter().filter(|i| predicate(i)).count();
        let non_ascii = count(
            &|i| matches!(i.get("surname"), Some(AttributeValue::S(name)) if !name.is_ascii()),
        );
        let apostrophes = count(
            &|i| matches!(i.get("surname"), Some(AttributeValue::S(name)) if name.contains('\'')),
        );
        let null_title = count(&|i| matches!(i.get("title"), Some(AttributeValue::Null(_))));
        let empty_title =
            count(&|i| matches!(i.get("title"), Some(AttributeValue::S(t)) if t.is_empty()));
        let absent_title = count(&|i| !i.contains_key("title"));
        let huge_balance = count(
            &|i| matches!(i.get("totalBalance"), Some(AttributeValue::N(v)) if v.len() >= 39),
        );
        for (what, seen) in [
            ("non-ASCII surnames", non_ascii),
            ("apostrophes", apostrophes),
            ("NULL titles", null_title),
            ("empty titles", empty_title),
            ("absent titles", absent_title),
            ("38-digit balances", huge_balance),
        ] {
            assert!(seen >= 10, "only {seen} {what}");
        }
        let flat = (0..2_000)
            .filter(|&n| tenure(n).contains_key("isTerminated"))
            .count();
        assert!(
            (100..1_900).contains(&flat),
            "{flat} tenures in the flat shape"
        );
    }

    #[test]
    fn linked_items_share_ids() {
        let tenure_7 = tenure(7);
        let Some(AttributeValue::M(asset)) = tenure_7.get("tenuredAsset") else {
            panic!("tenure has an asset");
        };
        assert_eq!(asset.get("id"), s(&asset_id(7)).as_ref());
        let Some(AttributeValue::L(tenures)) = person(7).get("tenures").cloned() else {
            panic!("person has tenures");
        };
        let Some(AttributeValue::M(first)) = tenures.first() else {
            panic!("person has a tenure");
        };
        assert_eq!(first.get("id"), s(&tenure_id(7)).as_ref());
    }
}
