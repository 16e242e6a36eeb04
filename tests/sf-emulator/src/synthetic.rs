//! Deterministic synthetic orgs for benchmarks: the same arguments always give the same
//! records, and every Id, email and opt-out flag can be computed without the emulator.

use crate::model::{OrgSeed, SObject, SeedRecord};
use crate::sfid;

/// Two-letter pod marker of synthetic Ids (fixture Ids use `5e`, inserted ones `5I`).
const SYNTHETIC_POD: &str = "5S";

/// The Id of the `index`-th synthetic record of `object`: a valid 18-character Id with the
/// object's key prefix (`00Q5S0000000000` + base-62 index + checksum).
pub fn synthetic_id(object: SObject, index: u64) -> String {
    sfid::make_id(object.key_prefix(), SYNTHETIC_POD, index).to_string()
}

/// The email of the `index`-th synthetic record of `object`, e.g. `lead42@example.com`.
pub fn synthetic_email(object: SObject, index: u64) -> String {
    match object {
        SObject::Lead => format!("lead{index}@example.com"),
        SObject::Contact => format!("contact{index}@example.com"),
    }
}

/// SplitMix64: a fixed, version-independent mix, so the flags below never change.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether the `index`-th synthetic record of `object` starts with `HasOptedOutOfEmail`
/// checked, for a given fraction and seed.
pub fn synthetic_opted_out(
    object: SObject,
    index: u64,
    opted_out_fraction: f64,
    seed: u64,
) -> bool {
    let h = mix(seed ^ mix(index.wrapping_mul(2).wrapping_add(object.index() as u64)));
    // 53 random bits → [0, 1).
    ((h >> 11) as f64 / (1u64 << 53) as f64) < opted_out_fraction
}

/// How many of `n` synthetic records are Leads (the rest are Contacts): `ceil(n / 2)`.
pub fn synthetic_lead_count(n: usize) -> usize {
    n - n / 2
}

/// A deterministic org of `n` records: `ceil(n/2)` Leads with indexes `0..`, then `n/2`
/// Contacts with indexes `0..`; Ids from [`synthetic_id`], emails from
/// [`synthetic_email`], opt-outs from [`synthetic_opted_out`].
pub fn synthetic_org(n: usize, opted_out_fraction: f64, seed: u64) -> OrgSeed {
    let leads = synthetic_lead_count(n);
    let mut records = Vec::with_capacity(n);
    for (object, count) in [(SObject::Lead, leads), (SObject::Contact, n - leads)] {
        for i in 0..count as u64 {
            let mut rec = SeedRecord::new(object);
            rec.id = Some(synthetic_id(object, i));
            rec.email = Some(synthetic_email(object, i));
            rec.first_name = Some("Test".to_owned());
            rec.last_name = Some(format!("{}{i}", object.name()));
            rec.has_opted_out_of_email = synthetic_opted_out(object, i, opted_out_fraction, seed);
            records.push(rec);
        }
    }
    OrgSeed {
        records,
        ..OrgSeed::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_valid() {
        let a = synthetic_org(11, 0.5, 3);
        let b = synthetic_org(11, 0.5, 3);
        assert_eq!(a, b);
        assert_eq!(
            a.records
                .iter()
                .filter(|r| r.object == SObject::Lead)
                .count(),
            6
        );
        let id = synthetic_id(SObject::Contact, 123_456);
        assert!(sfid::has_valid_checksum(&id));
        assert_eq!(sfid::sobject_of(&id), Some(SObject::Contact));
        let share = (0..10_000)
            .filter(|&i| synthetic_opted_out(SObject::Lead, i, 0.25, 9))
            .count();
        assert!((2_300..2_700).contains(&share), "{share}");
    }
}
