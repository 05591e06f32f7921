//! Tenants: lifecycle, isolation, statuses across reopen, crash leftovers.

use serde_json::json;
use uuid::Uuid;

use super::TenantInput;
use crate::object::{ObjectInput, WriteMode};
use crate::query::Query;
use crate::schema::{ClassDef, DataType, Primitive, PropertyDef, TenantStatus};
use crate::{Db, DbOptions};

fn open(dir: &std::path::Path) -> Db {
    let mut opts = DbOptions::new(dir, "node1");
    opts.autoschema = false;
    opts.storage = opts.storage.background(false);
    Db::open(opts).unwrap()
}

fn class(auto_create: bool, auto_activate: bool) -> ClassDef {
    let mut c = ClassDef::new("Mt");
    c.properties = vec![PropertyDef::new("t", DataType::Primitive(Primitive::Text))];
    c.multi_tenancy.enabled = true;
    c.multi_tenancy.auto_tenant_creation = auto_create;
    c.multi_tenancy.auto_tenant_activation = auto_activate;
    c
}

fn tenants(names: &[&str], status: &str) -> Vec<TenantInput> {
    names
        .iter()
        .map(|n| TenantInput {
            name: (*n).to_string(),
            status: status.to_string(),
        })
        .collect()
}

fn put(db: &Db, tenant: &str, id: u128) -> Result<(), crate::DbError> {
    db.put_object(
        ObjectInput {
            class: "Mt".into(),
            id: Some(Uuid::from_u128(id)),
            properties: json!({"t": format!("o{id}")})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            tenant: Some(tenant.to_string()),
            ..ObjectInput::default()
        },
        WriteMode::Upsert,
    )
    .map(|_| ())
}

fn ids(db: &Db, tenant: &str) -> Result<Vec<u128>, crate::DbError> {
    let hits = db.search(&Query {
        class: "Mt".into(),
        limit: 100,
        tenant: Some(tenant.to_string()),
        ..Query::default()
    })?;
    let mut out: Vec<u128> = hits.iter().map(|h| h.object.id.as_u128()).collect();
    out.sort_unstable();
    Ok(out)
}

#[test]
fn tenants_are_isolated_and_keep_their_data_and_status_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class(false, false)).unwrap();
    db.add_tenants("Mt", &tenants(&["a", "b", "c"], ""))
        .unwrap();
    for i in 0..5 {
        put(&db, "a", i).unwrap();
    }
    put(&db, "b", 100).unwrap();
    assert_eq!(ids(&db, "a").unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(ids(&db, "b").unwrap(), [100]);
    assert!(ids(&db, "c").unwrap().is_empty());
    assert_eq!(db.shards("Mt").unwrap().len(), 3);
    // Errors in Weaviate's words.
    let err = |r: Result<Vec<u128>, crate::DbError>| r.unwrap_err().to_string();
    assert_eq!(
        err(ids(&db, "")),
        "class Mt has multi-tenancy enabled, but request was without tenant"
    );
    assert_eq!(err(ids(&db, "zz")), "tenant not found: \"zz\"");
    db.update_tenants("Mt", &tenants(&["a"], "INACTIVE"))
        .unwrap();
    assert_eq!(err(ids(&db, "a")), "tenant not active: 'a'");
    assert!(
        put(&db, "a", 9)
            .unwrap_err()
            .to_string()
            .contains("tenant not active")
    );
    db.close().unwrap();
    let db = open(dir.path());
    assert_eq!(db.tenants("Mt").unwrap()["a"], TenantStatus::Cold);
    assert_eq!(err(ids(&db, "a")), "tenant not active: 'a'");
    db.update_tenants("Mt", &tenants(&["a"], "ACTIVE")).unwrap();
    assert_eq!(ids(&db, "a").unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(ids(&db, "b").unwrap(), [100]);
    let report = db.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.objects, 6);
    // Removing a tenant removes its data: the same name again is empty.
    db.delete_tenants("Mt", &["b".to_string(), "nope".to_string()])
        .unwrap();
    assert!(!dir.path().join("mt").join("b").exists());
    db.add_tenants("Mt", &tenants(&["b"], "")).unwrap();
    assert!(ids(&db, "b").unwrap().is_empty());
    db.close().unwrap();
}

#[test]
fn names_statuses_and_limits_are_checked_as_weaviate_does() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class(false, false)).unwrap();
    let e = db
        .add_tenants("Mt", &tenants(&["ok", "bad name"], ""))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("tenant name at index 1:  'bad name' is not a valid tenant name"),
        "{e}"
    );
    assert!(
        db.tenants("Mt").unwrap().is_empty(),
        "nothing of a refused request is kept"
    );
    let e = db.add_tenants("Mt", &tenants(&["x", "x"], "")).unwrap_err();
    assert!(
        e.to_string()
            .contains("tenant name x existed multiple times"),
        "{e}"
    );
    let e = db
        .add_tenants("Mt", &tenants(&["x"], "OFFLOADED"))
        .unwrap_err();
    assert!(
        e.to_string().contains("offload-s3 module is not enabled"),
        "{e}"
    );
    let e = db.add_tenants("Mt", &tenants(&["x"], "WARM")).unwrap_err();
    assert!(
        e.to_string().contains("invalid activity status 'WARM'"),
        "{e}"
    );
    db.add_tenants("Mt", &tenants(&["x"], "COLD")).unwrap();
    // Existing tenants are skipped, their status unchanged.
    db.add_tenants("Mt", &tenants(&["x"], "HOT")).unwrap();
    assert_eq!(db.tenants("Mt").unwrap()["x"], TenantStatus::Cold);
    let e = db
        .update_tenants("Mt", &tenants(&["nope"], "HOT"))
        .unwrap_err();
    assert_eq!(e.to_string(), "shard not found: nope");
    let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    db.add_tenants("Mt", &tenants(&refs, "")).unwrap();
    assert_eq!(db.tenants("Mt").unwrap().len(), 102);
    let e = db
        .update_tenants("Mt", &tenants(&refs, "COLD"))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("maximum number of tenants allowed to be updated simultaneously is 100"),
        "{e}"
    );
    let mut plain = ClassDef::new("Plain");
    plain.properties = vec![PropertyDef::new("t", DataType::Primitive(Primitive::Text))];
    db.create_class(plain).unwrap();
    let e = db.add_tenants("Plain", &tenants(&["a"], "")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "multi-tenancy is not enabled for class \"Plain\""
    );
    let e = db
        .search(&Query {
            class: "Plain".into(),
            limit: 1,
            tenant: Some("a".into()),
            ..Query::default()
        })
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "class Plain has multi-tenancy disabled, but request was with tenant"
    );
}

#[test]
fn auto_creation_and_auto_activation() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class(true, true)).unwrap();
    put(&db, "new", 1).unwrap();
    assert_eq!(db.tenants("Mt").unwrap()["new"], TenantStatus::Hot);
    db.update_tenants("Mt", &tenants(&["new"], "INACTIVE"))
        .unwrap();
    assert_eq!(ids(&db, "new").unwrap(), [1], "a read activates");
    assert_eq!(db.tenants("Mt").unwrap()["new"], TenantStatus::Hot);
    // Reads do not create tenants.
    assert!(
        ids(&db, "other")
            .unwrap_err()
            .to_string()
            .contains("tenant not found")
    );
}

#[test]
fn a_removed_tenants_leftover_directory_is_deleted_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.create_class(class(false, false)).unwrap();
    db.add_tenants("Mt", &tenants(&["keep", "gone"], ""))
        .unwrap();
    put(&db, "keep", 1).unwrap();
    put(&db, "gone", 2).unwrap();
    db.close().unwrap();
    // What a crash between the schema write and the directory removal leaves: the tenant's
    // directory without a schema entry (here: the schema rewritten without it, offline).
    let gone = dir.path().join("mt").join("gone");
    let copy = dir.path().join("gone-copy");
    std::fs::rename(&gone, &copy).unwrap();
    let db = open(dir.path());
    db.delete_tenants("Mt", &["gone".to_string()]).unwrap();
    db.close().unwrap();
    std::fs::rename(&copy, &gone).unwrap();
    std::fs::create_dir_all(dir.path().join("mt").join("gone.deleted")).unwrap();
    let db = open(dir.path());
    assert!(!gone.exists(), "the leftover directory is removed at open");
    assert!(!dir.path().join("mt").join("gone.deleted").exists());
    assert_eq!(ids(&db, "keep").unwrap(), [1]);
    db.add_tenants("Mt", &tenants(&["gone"], "")).unwrap();
    assert!(
        ids(&db, "gone").unwrap().is_empty(),
        "old data never reappears"
    );
}
