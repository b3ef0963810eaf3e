//! Sample Assets items (see [`samples`](crate::entities::samples)).

use crate::entities::samples::*;
use crate::source::item::Item;

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

/// The root of every asset's chain of parents.
const ROOT_ASSET: &str = "656feda1-896f-b136-da84-163ee4f1be6c";

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
        ("rootAsset", s(ROOT_ASSET)),
        // The chain from the root (the council's whole stock) down: root, estate, block.
        (
            "parentAssetIds",
            s(&format!("{ROOT_ASSET}#{estate_id}#{block_id}")),
        ),
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
