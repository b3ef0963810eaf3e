//! Sample TenureInformation items (see [`samples`](crate::entities::samples)).

use aws_sdk_dynamodb::types::AttributeValue;

use crate::entities::samples::*;
use crate::source::item::Item;

const TERMINATION_REASONS: &[&str] = &[
    "Tenant's death — succession",
    "Notice to quit",
    "Transfer to another property",
    "Eviction (rent arrears)",
    "Right to Buy completed",
    "Abandonment",
];

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
    let person = crate::entities::persons::sample::person(p);
    let text = |key: &str| match person.get(key) {
        Some(AttributeValue::S(value)) if !value.is_empty() => Some(value.clone()),
        _ => None,
    };
    let first_name = text("firstName").or_else(|| text("firstname"));
    let full_name = [text("title"), first_name, text("surname")]
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
