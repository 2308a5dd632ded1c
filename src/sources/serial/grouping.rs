//! The aggregation station's grouping: reads in, "pack these children into this parent" out.
//!
//! A scanner at a case packer reads case labels and unit codes one after the other; only the
//! order says which units went into which case. This state machine is pure (no I/O, no clock)
//! so every rule below is a unit test:
//!
//! * `parent_first`: a parent (case or pallet label) opens a group; the children read after it
//!   join it; the group closes on the next parent, after `children_per_parent` children, or on
//!   the configured close code. A child with no open group, or a group closed empty, is refused.
//! * `children_first`: children collect; the parent read after them closes the group. A parent
//!   with no children before it is refused.
//! * A frame that carries one parent and children (a camera over an open case) is a complete
//!   group by itself, whatever the order; a frame with two parents is refused.
//! * The same child read twice into one group, or the open parent read again, is a repeated read
//!   and ignored (the store would refuse the whole case for a `repeated_child`).
//!
//! Which code is a parent is decided by the station (SSCC, or a GTIN in the batch's
//! `pack_gtins`) and passed in as `Role`. Each output carries the raw frames it came from, so a
//! refusal is quarantined with what the scanner actually sent.

use crate::config::Order;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Parent,
    Child,
}

/// One code of a frame, classified. `key` identifies it (the canonical element string).
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    pub key: String,
    pub role: Role,
    pub code: T,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Input<T> {
    Frame {
        raw: Vec<u8>,
        reads: Vec<Read<T>>,
    },
    /// The configured close code was read.
    Close {
        raw: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output<T> {
    Group {
        parent: T,
        children: Vec<T>,
        frames: Vec<Vec<u8>>,
    },
    /// Reads that cannot become a group; `missing_parent` tells a missing label from a bad frame.
    Refused {
        reason: String,
        missing_parent: bool,
        frames: Vec<Vec<u8>>,
    },
}

#[derive(Debug)]
pub struct Grouper<T> {
    order: Order,
    per_parent: Option<usize>,
    parent: Option<Read<T>>,
    children: Vec<Read<T>>,
    frames: Vec<Vec<u8>>,
}

impl<T: Clone> Grouper<T> {
    pub fn new(order: Order, per_parent: Option<usize>) -> Self {
        Grouper {
            order,
            per_parent,
            parent: None,
            children: Vec::new(),
            frames: Vec::new(),
        }
    }

    /// Codes read into the open group so far (parent included).
    pub fn pending(&self) -> usize {
        self.children.len() + usize::from(self.parent.is_some())
    }

    pub fn feed(&mut self, input: Input<T>) -> Vec<Output<T>> {
        let mut out = Vec::new();
        match input {
            Input::Close { raw } => {
                self.frames.push(raw);
                self.close(&mut out, "the close code");
            }
            Input::Frame { raw, reads } => {
                let parents = reads.iter().filter(|r| r.role == Role::Parent).count();
                if parents > 1 {
                    out.push(refused(
                        format!("one frame carries {parents} parent labels; a frame holds at most one case or pallet"),
                        false,
                        vec![raw],
                    ));
                } else if parents == 1 && reads.len() > 1 {
                    out.push(whole_frame(raw, reads));
                } else {
                    self.frames.push(raw);
                    for r in reads {
                        self.one(r, &mut out);
                    }
                    if self.pending() == 0 {
                        self.frames.clear();
                    }
                }
            }
        }
        out
    }

    /// Gives up the open group (at shutdown) so its reads can be quarantined, not lost.
    pub fn abandon(&mut self) -> Option<Output<T>> {
        (self.pending() > 0).then(|| {
            let n = self.pending();
            self.parent = None;
            self.children.clear();
            refused(
                format!("{n} read(s) of an unfinished group when the station stopped; they are not packed"),
                false,
                std::mem::take(&mut self.frames),
            )
        })
    }

    fn one(&mut self, r: Read<T>, out: &mut Vec<Output<T>>) {
        match (self.order, r.role) {
            (Order::ParentFirst, Role::Parent) => {
                if self.parent.as_ref().is_some_and(|p| p.key == r.key) {
                    return; // the open case's label read again
                }
                let raw = self.frames.pop().unwrap_or_default();
                if self.parent.is_some() {
                    self.close(out, "the next parent label");
                }
                self.frames = vec![raw];
                self.parent = Some(r);
            }
            (Order::ParentFirst, Role::Child) => {
                if self.parent.is_none() {
                    let raw = self.frames.pop().unwrap_or_default();
                    out.push(refused(
                        format!(
                            "{} was read with no open case or pallet; read its parent label first",
                            r.key
                        ),
                        true,
                        vec![raw],
                    ));
                    return;
                }
                self.add_child(r);
                if self.per_parent.is_some_and(|n| self.children.len() >= n) {
                    self.close(out, "children_per_parent");
                }
            }
            (Order::ChildrenFirst, Role::Child) => self.add_child(r),
            (Order::ChildrenFirst, Role::Parent) => {
                self.parent = Some(r);
                self.close(out, "the parent label");
            }
        }
    }

    fn add_child(&mut self, r: Read<T>) {
        if !self.children.iter().any(|c| c.key == r.key) {
            self.children.push(r);
        }
    }

    /// Ends the open group: a group when it has a parent and children, else a refusal.
    fn close(&mut self, out: &mut Vec<Output<T>>, by: &str) {
        let frames = std::mem::take(&mut self.frames);
        let children = std::mem::take(&mut self.children);
        match self.parent.take() {
            Some(p) if !children.is_empty() => out.push(Output::Group {
                parent: p.code,
                children: children.into_iter().map(|c| c.code).collect(),
                frames,
            }),
            Some(p) => out.push(refused(
                format!(
                    "{} was closed by {by} with no children read after it",
                    p.key
                ),
                true,
                frames,
            )),
            None if !children.is_empty() => out.push(refused(
                format!(
                    "{} child read(s) closed by {by} without a parent label",
                    children.len()
                ),
                true,
                frames,
            )),
            None => {}
        }
    }
}

fn whole_frame<T>(raw: Vec<u8>, reads: Vec<Read<T>>) -> Output<T> {
    let mut parent = None;
    let mut children: Vec<Read<T>> = Vec::new();
    for r in reads {
        match r.role {
            Role::Parent => parent = Some(r.code),
            Role::Child if !children.iter().any(|c| c.key == r.key) => children.push(r),
            Role::Child => {}
        }
    }
    match parent {
        Some(parent) => Output::Group {
            parent,
            children: children.into_iter().map(|c| c.code).collect(),
            frames: vec![raw],
        },
        None => refused("frame without a parent".into(), true, vec![raw]),
    }
}

fn refused<T>(reason: String, missing_parent: bool, frames: Vec<Vec<u8>>) -> Output<T> {
    Output::Refused {
        reason,
        missing_parent,
        frames,
    }
}

#[cfg(test)]
#[path = "grouping_tests.rs"]
mod tests;
