//! A small hand-written list of e-commerce review cues per language (delivery, quality,
//! damage, refunds). The cue score is the number of positive minus negative cues found
//! (longest match first, non-overlapping; an alphabetic cue whose first word lies in a
//! negation scope counts with the opposite sign). The classifier adds `cue_weight × score`
//! to its margin; `cue_weight` is chosen by cross-validation (see BENCHMARKS.md).

use super::Language;
use super::features::clauses;

/// (cue, +1 positive / -1 negative)
fn cues(language: Language) -> &'static [(&'static str, i8)] {
    match language {
        Language::En => &[
            ("fast delivery", 1),
            ("fast shipping", 1),
            ("quick delivery", 1),
            ("arrived quickly", 1),
            ("arrived on time", 1),
            ("great quality", 1),
            ("good quality", 1),
            ("high quality", 1),
            ("excellent", 1),
            ("love it", 1),
            ("highly recommend", 1),
            ("works perfectly", 1),
            ("works great", 1),
            ("well made", 1),
            ("great value", 1),
            ("as described", 1),
            ("very happy", 1),
            ("satisfied", 1),
            ("broken", -1),
            ("damaged", -1),
            ("defective", -1),
            ("refund", -1),
            ("refund refused", -1),
            ("return it", -1),
            ("returned it", -1),
            ("late delivery", -1),
            ("arrived late", -1),
            ("never arrived", -1),
            ("poor quality", -1),
            ("bad quality", -1),
            ("cheap quality", -1),
            ("doesn't work", -1),
            ("does not work", -1),
            ("stopped working", -1),
            ("waste of money", -1),
            ("fake", -1),
            ("counterfeit", -1),
            ("disappointed", -1),
            ("terrible", -1),
            ("wrong item", -1),
            ("scam", -1),
            ("rip off", -1),
        ],
        Language::De => &[
            ("schnelle lieferung", 1),
            ("schnell geliefert", 1),
            ("schneller versand", 1),
            ("tolle qualität", 1),
            ("gute qualität", 1),
            ("super qualität", 1),
            ("hervorragend", 1),
            ("sehr zufrieden", 1),
            ("zufrieden", 1),
            ("empfehlenswert", 1),
            ("perfekt", 1),
            ("gerne wieder", 1),
            ("einwandfrei", 1),
            ("wie beschrieben", 1),
            ("kaputt", -1),
            ("beschädigt", -1),
            ("defekt", -1),
            ("rückerstattung", -1),
            ("rückerstattung verweigert", -1),
            ("erstattung", -1),
            ("zurückgeschickt", -1),
            ("verspätet", -1),
            ("zu spät", -1),
            ("nie angekommen", -1),
            ("schlechte qualität", -1),
            ("minderwertig", -1),
            ("funktioniert nicht", -1),
            ("enttäuscht", -1),
            ("enttäuschend", -1),
            ("betrug", -1),
            ("fälschung", -1),
            ("geldverschwendung", -1),
            ("falscher artikel", -1),
        ],
        Language::Es => &[
            ("entrega rápida", 1),
            ("envío rápido", 1),
            ("llegó rápido", 1),
            ("buena calidad", 1),
            ("gran calidad", 1),
            ("excelente calidad", 1),
            ("excelente", 1),
            ("muy contento", 1),
            ("muy contenta", 1),
            ("recomiendo", 1),
            ("perfecto", 1),
            ("perfecta", 1),
            ("funciona perfectamente", 1),
            ("como se describe", 1),
            ("satisfecho", 1),
            ("satisfecha", 1),
            ("roto", -1),
            ("rota", -1),
            ("dañado", -1),
            ("dañada", -1),
            ("defectuoso", -1),
            ("defectuosa", -1),
            ("reembolso", -1),
            ("reembolso rechazado", -1),
            ("devolución", -1),
            ("llegó tarde", -1),
            ("nunca llegó", -1),
            ("mala calidad", -1),
            ("no funciona", -1),
            ("decepcionado", -1),
            ("decepcionada", -1),
            ("estafa", -1),
            ("falsificado", -1),
            ("producto equivocado", -1),
        ],
        Language::Fr => &[
            ("livraison rapide", 1),
            ("expédition rapide", 1),
            ("arrivé rapidement", 1),
            ("bonne qualité", 1),
            ("très bonne qualité", 1),
            ("excellente qualité", 1),
            ("excellent", 1),
            ("très satisfait", 1),
            ("très satisfaite", 1),
            ("satisfait", 1),
            ("je recommande", 1),
            ("parfait", 1),
            ("parfaite", 1),
            ("fonctionne parfaitement", 1),
            ("conforme à la description", 1),
            ("cassé", -1),
            ("cassée", -1),
            ("endommagé", -1),
            ("défectueux", -1),
            ("défectueuse", -1),
            ("remboursement", -1),
            ("remboursement refusé", -1),
            ("en retard", -1),
            ("jamais arrivé", -1),
            ("jamais reçu", -1),
            ("mauvaise qualité", -1),
            ("ne fonctionne pas", -1),
            ("déçu", -1),
            ("déçue", -1),
            ("arnaque", -1),
            ("contrefaçon", -1),
            ("mauvais article", -1),
        ],
        Language::Pt => &[
            ("entrega rápida", 1),
            ("envio rápido", 1),
            ("chegou rápido", 1),
            ("boa qualidade", 1),
            ("ótima qualidade", 1),
            ("excelente qualidade", 1),
            ("excelente", 1),
            ("muito satisfeito", 1),
            ("muito satisfeita", 1),
            ("satisfeito", 1),
            ("recomendo", 1),
            ("perfeito", 1),
            ("perfeita", 1),
            ("funciona perfeitamente", 1),
            ("conforme descrito", 1),
            ("adorei", 1),
            ("quebrado", -1),
            ("quebrada", -1),
            ("danificado", -1),
            ("defeituoso", -1),
            ("defeito", -1),
            ("reembolso", -1),
            ("reembolso recusado", -1),
            ("devolução", -1),
            ("atrasado", -1),
            ("atrasada", -1),
            ("atraso", -1),
            ("nunca chegou", -1),
            ("má qualidade", -1),
            ("qualidade ruim", -1),
            ("não funciona", -1),
            ("decepcionado", -1),
            ("decepcionada", -1),
            ("golpe", -1),
            ("falsificado", -1),
            ("produto errado", -1),
        ],
        Language::Zh => &[
            ("物流快", 1),
            ("发货快", 1),
            ("送货快", 1),
            ("快递快", 1),
            ("质量很好", 1),
            ("质量好", 1),
            ("质量不错", 1),
            ("很好", 1),
            ("非常好", 1),
            ("满意", 1),
            ("推荐", 1),
            ("值得购买", 1),
            ("好评", 1),
            ("物美价廉", 1),
            ("性价比高", 1),
            ("正品", 1),
            ("坏了", -1),
            ("破损", -1),
            ("损坏", -1),
            ("退款", -1),
            ("拒绝退款", -1),
            ("退货", -1),
            ("太慢", -1),
            ("很慢", -1),
            ("没收到", -1),
            ("质量差", -1),
            ("质量很差", -1),
            ("不好", -1),
            ("差评", -1),
            ("失望", -1),
            ("不满意", -1),
            ("假货", -1),
            ("骗子", -1),
            ("不能用", -1),
            ("用不了", -1),
            ("垃圾", -1),
        ],
    }
}

/// Positive minus negative cue matches in `text`.
pub fn cue_score(language: Language, text: &str) -> f32 {
    let list = cues(language);
    let mut score = 0i32;
    if language == Language::Zh {
        let chars: Vec<char> = text.chars().collect();
        let cues: Vec<(Vec<char>, i8)> = list
            .iter()
            .map(|(c, p)| (c.chars().collect(), *p))
            .collect();
        let mut i = 0;
        while i < chars.len() {
            let best = cues
                .iter()
                .filter(|(c, _)| chars[i..].starts_with(c))
                .max_by_key(|(c, _)| c.len());
            match best {
                Some((c, p)) => {
                    score += i32::from(*p);
                    i += c.len();
                }
                None => i += 1,
            }
        }
        return score as f32;
    }
    let cues: Vec<(Vec<String>, i8)> = list
        .iter()
        .map(|(c, p)| {
            let words = clauses(language, c)
                .into_iter()
                .flatten()
                .map(|t| t.text)
                .collect();
            (words, *p)
        })
        .collect();
    for clause in clauses(language, text) {
        let mut i = 0;
        while i < clause.len() {
            let best = cues
                .iter()
                .filter(|(c, _)| {
                    !c.is_empty()
                        && clause.len() - i >= c.len()
                        && c.iter().zip(&clause[i..]).all(|(w, t)| *w == t.text)
                })
                .max_by_key(|(c, _)| c.len());
            match best {
                Some((c, p)) => {
                    let sign = if clause[i].negated { -1 } else { 1 };
                    score += sign * i32::from(*p);
                    i += c.len();
                }
                None => i += 1,
            }
        }
    }
    score as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cues_match_longest_and_flip_under_negation() {
        assert_eq!(cue_score(Language::En, "Fast delivery, great quality"), 2.0);
        assert_eq!(
            cue_score(Language::En, "Arrived broken, refund refused"),
            -2.0
        );
        assert_eq!(cue_score(Language::En, "not satisfied"), -1.0);
        assert_eq!(cue_score(Language::Zh, "质量很好，拒绝退款"), 0.0);
        assert_eq!(cue_score(Language::De, "Kam kaputt an"), -1.0);
    }
}
