//! What a measuring command feeds its settings: spread requests (seed lists) or recall
//! requests (cue vectors), drawn from the workload's seeded streams a block at a time, so that
//! memory does not grow with the run and every setting runs exactly the same requests.

use crate::recall::{CueList, CueStream, SeedIndex};
use crate::workload::{RequestList, RequestStream};
use std::sync::Arc;

/// The stream requests are drawn from.
// One per command, never copied: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum RequestSource {
    /// Seed lists for the spread alone.
    Spread(RequestStream),
    /// Cues for the whole recall pipeline, drawn from the index's embeddings.
    Recall {
        cues: CueStream,
        index: Arc<SeedIndex>,
    },
}

/// A block of requests drawn from a [`RequestSource`].
pub enum RequestBlock {
    Spread(RequestList),
    Recall(CueList),
}

impl RequestSource {
    /// The next `count` requests.
    pub fn draw(&mut self, count: usize) -> RequestBlock {
        match self {
            RequestSource::Spread(stream) => RequestBlock::Spread(RequestList::draw(stream, count)),
            RequestSource::Recall { cues, index } => {
                RequestBlock::Recall(CueList::draw(cues, index.embeddings(), count))
            }
        }
    }
}

impl RequestBlock {
    pub fn len(&self) -> usize {
        match self {
            RequestBlock::Spread(l) => l.len(),
            RequestBlock::Recall(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
