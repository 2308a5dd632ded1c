//! Tests of the aggregation grouping state machine: each way a group opens, closes or is refused.

use super::*;

fn read(key: &str) -> Read<String> {
    let role = if key.starts_with('P') {
        Role::Parent
    } else {
        Role::Child
    };
    Read {
        key: key.into(),
        role,
        code: key.into(),
    }
}

fn frame(keys: &[&str]) -> Input<String> {
    Input::Frame {
        raw: keys.join(",").into_bytes(),
        reads: keys.iter().map(|k| read(k)).collect(),
    }
}

/// Feeds one code per frame; returns groups as "P:c1+c2" and refusals as "!reason-start".
fn run(g: &mut Grouper<String>, inputs: Vec<Input<String>>) -> Vec<String> {
    inputs
        .into_iter()
        .flat_map(|i| g.feed(i))
        .map(|o| match o {
            Output::Group {
                parent, children, ..
            } => format!("{parent}:{}", children.join("+")),
            Output::Refused { reason, .. } => format!("!{}", &reason[..reason.len().min(12)]),
        })
        .collect()
}

fn singles(keys: &[&str]) -> Vec<Input<String>> {
    keys.iter().map(|k| frame(&[k])).collect()
}

#[test]
fn parent_first_closes_on_the_next_parent_the_count_or_the_close_code() {
    let mut g = Grouper::new(Order::ParentFirst, None);
    assert_eq!(
        run(&mut g, singles(&["P1", "a", "b", "a", "P1", "P2", "c"])),
        ["P1:a+b"]
    );
    assert_eq!(g.pending(), 2);
    let close = Input::Close {
        raw: b"CLOSE".to_vec(),
    };
    assert_eq!(run(&mut g, vec![close]), ["P2:c"]);
    assert_eq!(g.pending(), 0);

    let mut g = Grouper::new(Order::ParentFirst, Some(2));
    assert_eq!(
        run(&mut g, singles(&["P1", "a", "b", "c", "P2", "d", "e"])),
        ["P1:a+b", "!c was read w", "P2:d+e"]
    );
}

#[test]
fn parent_first_refuses_orphans_and_empty_groups() {
    let mut g = Grouper::new(Order::ParentFirst, None);
    assert_eq!(
        run(&mut g, singles(&["a", "P1", "P2", "b"])),
        ["!a was read w", "!P1 was close"]
    );
    let Some(Output::Refused { frames, .. }) = g.abandon() else {
        panic!("the open group is given up")
    };
    assert_eq!(frames, [b"P2".to_vec(), b"b".to_vec()]);
    assert!(g.abandon().is_none());
}

#[test]
fn children_first_closes_on_the_parent() {
    let mut g = Grouper::new(Order::ChildrenFirst, None);
    assert_eq!(
        run(&mut g, singles(&["a", "b", "b", "P1", "P2", "c", "P3"])),
        ["P1:a+b", "!P2 was close", "P3:c"]
    );
}

#[test]
fn a_camera_frame_with_a_parent_is_a_whole_group() {
    let mut g = Grouper::new(Order::ParentFirst, None);
    let out = run(
        &mut g,
        vec![
            frame(&["P0"]),
            frame(&["a", "P1", "b", "b"]),
            frame(&["P2", "P3", "c"]),
            frame(&["x", "y"]),
        ],
    );
    assert_eq!(out, ["P1:a+b", "!one frame ca"]);
    // The frame of children joined the group opened before the camera frame.
    assert_eq!(g.pending(), 3);
    let Output::Group { frames, .. } = &g.feed(Input::Close { raw: vec![] })[0] else {
        panic!("group")
    };
    assert_eq!(frames, &[b"P0".to_vec(), b"x,y".to_vec(), vec![]]);
}
