//! Score kinds and scales, and the class a score falls in.
//!
//! Each kind keeps its own scale (an NPS 3 is not a CSAT 3); [`Score::normalized`] maps any
//! score onto 0.0 (worst) to 1.0 (best) so rules can compare across kinds.

use serde::{Deserialize, Serialize};

/// The survey question a score answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreKind {
    /// Net Promoter Score: 0 to 10.
    Nps,
    /// Customer satisfaction: 1 to 5, 7 or 10.
    Csat,
    /// Customer effort (CES 2.0 agreement, "easy to handle"): 1 to 7, higher is easier.
    Ces,
    /// Star or point rating: 1 to 3..=10.
    Rating,
}

impl ScoreKind {
    pub const ALL: [ScoreKind; 4] = [Self::Nps, Self::Csat, Self::Ces, Self::Rating];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nps => "nps",
            Self::Csat => "csat",
            Self::Ces => "ces",
            Self::Rating => "rating",
        }
    }

    /// The lowest value on this kind's scale.
    pub fn min(self) -> i64 {
        match self {
            Self::Nps => 0,
            _ => 1,
        }
    }

    /// The scale assumed when none is given.
    pub fn default_scale(self) -> i64 {
        match self {
            Self::Nps => 10,
            Self::Csat | Self::Rating => 5,
            Self::Ces => 7,
        }
    }

    /// Whether `scale` (the top of the range) is one this kind is asked on.
    pub fn accepts_scale(self, scale: i64) -> bool {
        match self {
            Self::Nps => scale == 10,
            Self::Csat => matches!(scale, 5 | 7 | 10),
            Self::Ces => scale == 7,
            Self::Rating => (3..=10).contains(&scale),
        }
    }

    pub fn scale_description(self) -> &'static str {
        match self {
            Self::Nps => "10",
            Self::Csat => "5, 7 or 10",
            Self::Ces => "7",
            Self::Rating => "3 to 10",
        }
    }
}

/// A validated score: its value lies on its scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    pub kind: ScoreKind,
    pub value: i64,
    pub scale: i64,
}

/// Where a score places the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreClass {
    /// NPS 0-6, or the bottom of a satisfaction, effort or rating scale.
    Detractor,
    /// NPS 7-8, or the middle of a scale.
    Passive,
    /// NPS 9-10, or the top of a scale.
    Promoter,
}

impl ScoreClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Detractor => "detractor",
            Self::Passive => "passive",
            Self::Promoter => "promoter",
        }
    }
}

impl Score {
    /// 0.0 for the worst answer on the scale, 1.0 for the best.
    pub fn normalized(&self) -> f64 {
        let min = self.kind.min();
        (self.value - min) as f64 / (self.scale - min) as f64
    }

    /// The class of the score. NPS uses its published bands; the other kinds use the common
    /// convention for their scale: the top box (top two of five, top two of seven, top three
    /// of ten) is satisfied, the bottom box (bottom two of five, bottom three of seven, bottom
    /// four of ten) is dissatisfied, and the rest is neutral.
    pub fn class(&self) -> ScoreClass {
        match self.kind {
            ScoreKind::Nps => match self.value {
                0..=6 => ScoreClass::Detractor,
                7..=8 => ScoreClass::Passive,
                _ => ScoreClass::Promoter,
            },
            _ => {
                let (bottom, top) = match self.scale {
                    3 => (1, 3),
                    4 => (1, 4),
                    5 => (2, 4),
                    6 => (2, 5),
                    7 => (3, 6),
                    8 => (3, 7),
                    9 => (4, 8),
                    _ => (4, 8),
                };
                if self.value <= bottom {
                    ScoreClass::Detractor
                } else if self.value >= top {
                    ScoreClass::Promoter
                } else {
                    ScoreClass::Passive
                }
            }
        }
    }

    /// The same question answered again with `value`, if `value` is on the scale.
    pub fn answered_again(&self, value: i64) -> Option<Score> {
        (self.kind.min()..=self.scale)
            .contains(&value)
            .then_some(Score { value, ..*self })
    }

    /// "NPS 3/10", "CSAT 2/5": how the score reads in an alert.
    pub fn label(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind.as_str().to_uppercase(),
            self.value,
            self.scale
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(kind: ScoreKind, value: i64, scale: i64) -> Score {
        Score { kind, value, scale }
    }

    #[test]
    fn nps_bands() {
        let classes: Vec<_> = (0..=10)
            .map(|v| score(ScoreKind::Nps, v, 10).class())
            .collect();
        assert_eq!(classes[..7], [ScoreClass::Detractor; 7]);
        assert_eq!(classes[7..9], [ScoreClass::Passive; 2]);
        assert_eq!(classes[9..], [ScoreClass::Promoter; 2]);
    }

    #[test]
    fn csat_on_each_scale() {
        assert_eq!(score(ScoreKind::Csat, 2, 5).class(), ScoreClass::Detractor);
        assert_eq!(score(ScoreKind::Csat, 3, 5).class(), ScoreClass::Passive);
        assert_eq!(score(ScoreKind::Csat, 4, 5).class(), ScoreClass::Promoter);
        assert_eq!(score(ScoreKind::Csat, 3, 7).class(), ScoreClass::Detractor);
        assert_eq!(score(ScoreKind::Csat, 6, 7).class(), ScoreClass::Promoter);
        assert_eq!(score(ScoreKind::Csat, 4, 10).class(), ScoreClass::Detractor);
        assert_eq!(score(ScoreKind::Csat, 8, 10).class(), ScoreClass::Promoter);
        assert_eq!(score(ScoreKind::Ces, 2, 7).class(), ScoreClass::Detractor);
    }

    #[test]
    fn normalizes_onto_unit_range() {
        assert_eq!(score(ScoreKind::Nps, 0, 10).normalized(), 0.0);
        assert_eq!(score(ScoreKind::Csat, 5, 5).normalized(), 1.0);
        assert_eq!(score(ScoreKind::Csat, 3, 5).normalized(), 0.5);
    }

    #[test]
    fn answers_again_on_the_same_scale() {
        let s = score(ScoreKind::Csat, 2, 5);
        assert_eq!(s.answered_again(5), Some(score(ScoreKind::Csat, 5, 5)));
        assert_eq!(s.answered_again(0), None);
        assert_eq!(s.answered_again(6), None);
        assert_eq!(
            score(ScoreKind::Nps, 3, 10)
                .answered_again(0)
                .map(|s| s.value),
            Some(0)
        );
    }

    #[test]
    fn scales_per_kind() {
        assert!(ScoreKind::Nps.accepts_scale(10));
        assert!(!ScoreKind::Nps.accepts_scale(5));
        assert!(ScoreKind::Csat.accepts_scale(7));
        assert!(!ScoreKind::Csat.accepts_scale(6));
        assert!(ScoreKind::Rating.accepts_scale(3));
        assert!(!ScoreKind::Rating.accepts_scale(11));
        assert_eq!(ScoreKind::parse("ces"), Some(ScoreKind::Ces));
        assert_eq!(ScoreKind::parse("CES"), None);
    }
}
