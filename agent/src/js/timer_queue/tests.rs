use super::*;

#[test]
fn timers_are_ordered_by_due_time_then_creation_and_ids_count_up() {
    let l = TimerQueue::default();
    let a = l.add(TimerKind::Timeout, 10.0);
    let b = l.add(TimerKind::Timeout, 0.0);
    let c = l.add(TimerKind::Timeout, f64::NAN);
    let d = l.add(TimerKind::Timeout, -5.0);
    assert_eq!((a, b, c, d), (1, 2, 3, 4));
    let mut order = Vec::new();
    while let Some((id, due)) = l.next() {
        assert_eq!(l.take(id, due), Some(false));
        order.push(id);
    }
    assert_eq!(order, [2, 3, 4, 1]);
    assert!(l.is_empty());
    assert_eq!(l.add(TimerKind::Timeout, 1.0), 5);
}

#[test]
fn an_interval_is_due_again_one_period_after_its_callback_until_cleared() {
    let l = TimerQueue::default();
    let iv = l.add(TimerKind::Interval, 20.0);
    let t = l.add(TimerKind::Timeout, 50.0);
    let mut order = Vec::new();
    while let Some((id, due)) = l.next() {
        if l.take(id, due) == Some(true) {
            // Off the queue while its callback runs; due again once rearmed.
            assert_ne!(l.next().map(|n| n.0), Some(iv));
            l.rearm(id);
        }
        order.push(id);
        if order.len() == 4 {
            assert!(l.clear(iv));
        }
    }
    // 20, 40 (interval), 50 (timeout)... the interval is cleared after its fourth entry.
    assert_eq!(order, [iv, iv, t, iv]);
    assert!(!l.clear(iv));
    assert!(l.is_empty());
}

#[test]
fn a_zero_period_interval_still_moves_the_clock() {
    let l = TimerQueue::default();
    let iv = l.add(TimerKind::Interval, 0.0);
    let t = l.add(TimerKind::Timeout, 3.0);
    let mut order = Vec::new();
    for _ in 0..6 {
        let (id, due) = l.next().unwrap();
        if l.take(id, due) == Some(true) {
            l.rearm(id);
        }
        order.push(id);
    }
    assert!(order.contains(&t), "{order:?}");
    assert_eq!(l.drain(), [(TimerKind::Interval, iv)]);
    assert!(l.next().is_none());
}
