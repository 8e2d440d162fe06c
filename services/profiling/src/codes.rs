//! Stored codes of profile enums: the proto value name without its prefix (as ingestion
//! stores its enums), e.g. `AT_RISK` for `RFM_SEGMENT_AT_RISK`.

use caravan_proto::caravan::common::v1::{DecisionStage, RfmSegment};

use crate::rfm;

/// `DecisionStage` value -> stored code; `None` for unspecified.
pub fn decision_stage_code(stage: i32) -> Option<String> {
    DecisionStage::try_from(stage)
        .ok()
        .filter(|s| *s != DecisionStage::Unspecified)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("DECISION_STAGE_")
                .to_owned()
        })
}

/// Stored code -> `DecisionStage` value (0 when unknown).
pub fn decision_stage_value(code: Option<&str>) -> i32 {
    code.and_then(|c| DecisionStage::from_str_name(&format!("DECISION_STAGE_{c}")))
        .map_or(0, |s| s as i32)
}

/// The proto value of a domain RFM segment.
pub fn rfm_segment_value(segment: rfm::RfmSegment) -> RfmSegment {
    use rfm::RfmSegment as D;
    match segment {
        D::Champions => RfmSegment::Champions,
        D::Loyal => RfmSegment::Loyal,
        D::PotentialLoyalist => RfmSegment::PotentialLoyalist,
        D::New => RfmSegment::New,
        D::Promising => RfmSegment::Promising,
        D::NeedAttention => RfmSegment::NeedAttention,
        D::AboutToSleep => RfmSegment::AboutToSleep,
        D::AtRisk => RfmSegment::AtRisk,
        D::CantLose => RfmSegment::CantLose,
        D::Hibernating => RfmSegment::Hibernating,
        D::Lost => RfmSegment::Lost,
    }
}

/// Stored code of an RFM segment, e.g. `AT_RISK`.
pub fn rfm_segment_code(segment: rfm::RfmSegment) -> String {
    rfm_segment_value(segment)
        .as_str_name()
        .trim_start_matches("RFM_SEGMENT_")
        .to_owned()
}

/// Stored code -> `RfmSegment` value (0 when unknown).
pub fn rfm_segment_from_code(code: Option<&str>) -> i32 {
    code.and_then(|c| RfmSegment::from_str_name(&format!("RFM_SEGMENT_{c}")))
        .map_or(0, |s| s as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in rfm::RfmSegment::ALL {
            let code = rfm_segment_code(s);
            assert_eq!(
                rfm_segment_from_code(Some(&code)),
                rfm_segment_value(s) as i32
            );
        }
        assert_eq!(rfm_segment_code(rfm::RfmSegment::CantLose), "CANT_LOSE");
        let stage = DecisionStage::AfterSales as i32;
        assert_eq!(decision_stage_code(stage).as_deref(), Some("AFTER_SALES"));
        assert_eq!(decision_stage_value(Some("AFTER_SALES")), stage);
        assert_eq!(decision_stage_code(0), None);
        assert_eq!(decision_stage_value(Some("nope")), 0);
    }
}
