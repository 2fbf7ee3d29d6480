//! The contract every [`MessageStore`] keeps, as tests that run against
//! any backend: the server and its operator commands rely on what a store
//! does, not on how, so a second backend must pass the very tests the first
//! does, and a behaviour a backend forgets is a failing test, not a
//! surprise in production.
//!
//! A backend implements [`Fixture`] and stamps the suite out with
//! [`contract_tests!`]; a contract function the macro does not list is dead
//! code, which the lints refuse.
//!
//! Bytes are counted alike by every store, so that a limit means the same
//! on each: an envelope counts its length, and a stream what its sink's
//! [`StreamSink::bytes`](crate::store::StreamSink::bytes) reports, the
//! frames' payloads plus 4 bytes of length each (the frame format of the
//! wire), whatever the store keeps beside them.
//!
//! The tests use nothing but the traits: no paths, no SQL, no backend's
//! own methods. What only one backend does (its files, its schema, its
//! locks) is tested beside that backend.

mod beside;
mod fixture;
mod inbound;
mod limits;
mod mailbox;
mod queue;
mod removal;
mod restart;
mod sample;
mod streams;

pub(crate) use beside::*;
pub(crate) use fixture::Fixture;
pub(crate) use inbound::*;
pub(crate) use limits::*;
pub(crate) use mailbox::*;
pub(crate) use queue::*;
pub(crate) use removal::*;
pub(crate) use restart::*;
pub(crate) use streams::*;

/// Stamps out one `#[test]` per contract function for a fixture
/// expression of type `Option<impl Fixture>`, evaluated afresh for each
/// test: `None` skips the test (a backend whose server is not there).
/// Without a list, every contract test, so that no backend leaves one out.
macro_rules! contract_tests {
    ($fixture:expr) => {
        $crate::store::contract::contract_tests!($fixture;
            a_retry_is_a_duplicate_and_another_text_a_conflict,
            the_same_id_from_another_sender_is_another_message,
            the_inbox_lists_oldest_first_without_content,
            an_inbox_query_chooses_since_and_limit,
            an_empty_store_lists_nothing,
            a_message_is_found_by_a_prefix_of_its_id_in_any_case,
            an_ambiguous_or_unknown_prefix_is_refused,
            a_mailbox_is_delivered_in_queue_order_up_to_a_limit,
            a_queued_message_is_delivered_as_it_was_queued,
            only_its_recipient_acknowledges_a_message,
            queued_counts_count_each_mailbox,
            a_full_mailbox_refuses_more_until_one_is_acknowledged,
            the_total_size_is_bounded,
            one_sender_takes_at_most_its_share,
            a_sink_is_bounded_by_the_room_left,
            sinks_growing_together_share_one_limit,
            a_committed_streams_bytes_count_through_its_row,
            usage_counts_what_is_stored,
            a_committed_stream_reads_back_frame_by_frame,
            a_large_frame_reads_back_whole,
            a_stream_of_megabytes_reads_back_in_order,
            a_stream_message_is_found_as_a_stream_that_opens,
            a_retried_stream_is_removed_and_the_first_kept,
            a_stream_refused_by_a_full_mailbox_is_removed,
            a_stream_refused_for_room_is_removed,
            an_abandoned_sink_leaves_nothing_and_gives_its_room_back,
            acknowledged_messages_give_room_back_and_remove_their_streams,
            deleted_messages_give_room_back_and_remove_their_streams,
            expiry_removes_the_messages_received_before_a_time,
            a_quarantined_message_is_set_aside_and_kept,
            a_quarantined_stream_still_opens_until_deleted,
            messages_queued_now_need_no_new_seal,
            a_resealed_message_takes_its_new_bytes_in_its_place,
            received_messages_survive_a_restart,
            queued_messages_survive_a_restart,
            a_stream_no_row_names_is_gone_after_a_restart,
            a_restart_takes_the_limits_it_is_opened_with,
            two_handles_see_each_others_messages,
            a_stream_written_through_one_handle_opens_through_the_other,
            an_acknowledgement_through_another_handle_is_seen_by_pending,
            stored_bytes_from_another_handle_count_against_the_limit,
            opening_beside_leaves_streams_in_flight_alone,
        );
    };
    ($fixture:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let Some(fixture) = $fixture else { return };
                $crate::store::contract::$name(&fixture);
            }
        )*
    };
}
pub(crate) use contract_tests;
