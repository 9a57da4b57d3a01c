use super::*;
use crate::temp_dir::TempDir;
use raft::eraftpb::EntryType;

fn entry(index: u64, term: u64, data: &str) -> Entry {
    let mut e = Entry::default();
    e.set_entry_type(EntryType::EntryNormal);
    e.index = index;
    e.term = term;
    e.data = data.as_bytes().to_vec().into();
    e
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..Default::default()
    }
}

fn all(s: &RaftStorage) -> Vec<Entry> {
    let (lo, hi) = (s.first_index().unwrap(), s.last_index().unwrap() + 1);
    s.entries(lo, hi, None, GetEntriesContext::empty(false))
        .unwrap()
}

#[test]
fn persists_entries_hard_state_and_membership_across_reopen() {
    let dir = TempDir::new("storage-reopen");
    {
        let mut s = RaftStorage::open(&dir.0).unwrap();
        assert!(!s.is_initialized());
        s.initialize(&[1, 2, 3]).unwrap();
        let ents = [entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 2, "c")];
        s.persist(Persist {
            snapshot: None,
            entries: &ents,
            hard_state: Some(&hard_state(2, 3, 2)),
        })
        .unwrap();
        s.set_commit(3).unwrap();
    }
    let mut s = RaftStorage::open(&dir.0).unwrap();
    // A second initialize keeps the stored membership.
    s.initialize(&[7]).unwrap();
    let st = s.initial_state().unwrap();
    assert_eq!(st.hard_state, hard_state(2, 3, 3));
    assert_eq!(st.conf_state.voters, vec![1, 2, 3]);
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (1, 3));
    assert_eq!(
        all(&s),
        vec![entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 2, "c")]
    );
    assert_eq!(s.term(0).unwrap(), 0);
    assert_eq!(s.term(3).unwrap(), 2);
    assert!(matches!(
        s.term(4),
        Err(raft::Error::Store(raft::StorageError::Unavailable))
    ));
    // max_size: at least one entry, then stop before the limit.
    let one = s
        .entries(1, 4, Some(1), GetEntriesContext::empty(false))
        .unwrap();
    assert_eq!(one.len(), 1);
}

#[test]
fn a_conflicting_suffix_is_replaced() {
    let dir = TempDir::new("storage-conflict");
    let mut s = RaftStorage::open(&dir.0).unwrap();
    s.initialize(&[1]).unwrap();
    let ents = [entry(1, 1, "a"), entry(2, 1, "b"), entry(3, 1, "c")];
    s.persist(Persist {
        entries: &ents,
        ..Persist::default()
    })
    .unwrap();
    s.persist(Persist {
        entries: &[entry(2, 2, "B")],
        ..Persist::default()
    })
    .unwrap();
    assert_eq!(all(&s), vec![entry(1, 1, "a"), entry(2, 2, "B")]);
    drop(s);
    let s = RaftStorage::open(&dir.0).unwrap();
    assert_eq!(s.last_index().unwrap(), 2);
    // A gap is refused, naming the file.
    let mut s = s;
    let err = s
        .persist(Persist {
            entries: &[entry(5, 2, "gap")],
            ..Persist::default()
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("leaves a gap after the last entry 2"),
        "{err}"
    );
    assert!(err.to_string().contains(RAFT_FILE), "{err}");
}

#[test]
fn compaction_keeps_a_snapshot_and_drops_the_log_before_it() {
    let dir = TempDir::new("storage-compact");
    {
        let mut s = RaftStorage::open(&dir.0).unwrap();
        s.initialize(&[1, 2, 3]).unwrap();
        let ents: Vec<Entry> = (1..=6).map(|i| entry(i, 1 + i / 4, "x")).collect();
        s.persist(Persist {
            entries: &ents,
            hard_state: Some(&hard_state(2, 1, 6)),
            ..Persist::default()
        })
        .unwrap();
        s.compact(4, b"{\"state\":4}").unwrap();
        // Compacting to an older index is a no-op; beyond the log is refused.
        s.compact(2, b"older").unwrap();
        assert!(s.compact(9, b"future").is_err());
    }
    let s = RaftStorage::open(&dir.0).unwrap();
    assert_eq!((s.first_index().unwrap(), s.last_index().unwrap()), (5, 6));
    assert_eq!(
        s.term(4).unwrap(),
        2,
        "the snapshot keeps the term of its index"
    );
    assert!(matches!(
        s.term(3),
        Err(raft::Error::Store(raft::StorageError::Compacted))
    ));
    assert!(matches!(
        s.entries(3, 6, None, GetEntriesContext::empty(false)),
        Err(raft::Error::Store(raft::StorageError::Compacted))
    ));
    let snap = s.snapshot(0, 2).unwrap();
    assert_eq!(snap.get_metadata().index, 4);
    assert_eq!(snap.get_metadata().term, 2);
    assert_eq!(snap.get_metadata().get_conf_state().voters, vec![1, 2, 3]);
    assert_eq!(snap.get_data(), b"{\"state\":4}");
    assert_eq!(all(&s).len(), 2);
}

#[test]
fn a_received_snapshot_replaces_the_log() {
    let dir = TempDir::new("storage-install");
    let mut s = RaftStorage::open(&dir.0).unwrap();
    s.initialize(&[1, 2, 3]).unwrap();
    s.persist(Persist {
        entries: &[entry(1, 1, "stale")],
        ..Persist::default()
    })
    .unwrap();
    let mut snap = Snapshot::default();
    snap.mut_metadata().index = 10;
    snap.mut_metadata().term = 3;
    snap.mut_metadata()
        .set_conf_state(ConfState::from((vec![1, 2, 3], vec![])));
    snap.set_data(b"{}".to_vec().into());
    s.persist(Persist {
        snapshot: Some(&snap),
        entries: &[entry(11, 3, "next")],
        hard_state: None,
    })
    .unwrap();
    drop(s);
    let s = RaftStorage::open(&dir.0).unwrap();
    assert_eq!(
        (s.first_index().unwrap(), s.last_index().unwrap()),
        (11, 11)
    );
    assert_eq!(s.hard_state().commit, 10);
    assert_eq!(s.hard_state().term, 3);
    assert_eq!(s.snapshot(0, 1).unwrap().get_data(), b"{}");
    assert_eq!(all(&s), vec![entry(11, 3, "next")]);
}

#[test]
fn a_newer_format_is_refused_and_a_second_opener_too() {
    let dir = TempDir::new("storage-format");
    let s = RaftStorage::open(&dir.0).unwrap();
    let err = RaftStorage::open(&dir.0).unwrap_err();
    assert!(matches!(err, RaftStoreError::InUse { .. }), "{err}");
    s.write("test", |txn, me| {
        let mut m = txn.open_table(META).map_err(|e| me.storage("t", e))?;
        m.insert(META_FORMAT, 99u64.to_le_bytes().as_slice())
            .map_err(|e| me.storage("t", e))?;
        Ok(())
    })
    .unwrap();
    drop(s);
    let err = RaftStorage::open(&dir.0).unwrap_err();
    assert!(err.to_string().contains("has format 99"), "{err}");
}
