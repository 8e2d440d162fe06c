//! Budget allocation: choose at most one strategy per customer to maximise the total
//! value (expected incremental margin, revenue or conversions) with the total expected
//! cost within the budget. This is a multiple-choice knapsack problem.
//!
//! * [`solve_exact`]: dynamic programming over cost in minor units (divided by the gcd
//!   of all costs and the budget), exact; used while customers x budget cells stay small.
//! * [`solve_greedy`]: the LP-relaxation greedy over the upper convex hull of each
//!   customer's options, for large inputs. Its gap to the optimum is bounded by the value
//!   of the single increment that did not fit (reported as `upper_bound`).
//!
//! Ineligible or frequency-capped strategies never reach this module: the caller only
//! passes options that may be applied.

/// One applicable strategy for one customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice {
    /// Expected cost in minor units, rounded up so the plan never exceeds the budget.
    pub cost: u64,
    /// What is maximised; only positive values are worth choosing.
    pub value: f64,
}

/// The solution: per customer, the index of the chosen option, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub picks: Vec<Option<usize>>,
    pub total_cost: u64,
    pub total_value: f64,
    /// An upper bound of the optimum (= total_value when exact).
    pub upper_bound: f64,
    pub exact: bool,
}

/// Largest DP table (customers x budget cells) solved exactly; ~1 byte per cell.
pub const MAX_EXACT_CELLS: u64 = 40_000_000;

/// Solves exactly when the DP is small enough, else greedily.
pub fn allocate(customers: &[Vec<Choice>], budget: u64) -> Plan {
    solve_exact(customers, budget, MAX_EXACT_CELLS)
        .unwrap_or_else(|| solve_greedy(customers, budget))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Exact DP; `None` if the table would exceed `max_cells`.
pub fn solve_exact(customers: &[Vec<Choice>], budget: u64, max_cells: u64) -> Option<Plan> {
    // Options that fit the budget and have positive value; zero-cost ones are free wins.
    let useful = |c: &Choice| c.value > 0.0 && c.cost <= budget;
    let mut unit = budget;
    for c in customers.iter().flatten().filter(|c| useful(c)) {
        unit = gcd(unit, c.cost);
    }
    let unit = unit.max(1);
    let cap = budget / unit;
    let width = usize::try_from(cap).ok()?.checked_add(1)?;
    let cells = (customers.len() as u64).checked_mul(width as u64)?;
    if cells > max_cells || customers.iter().any(|o| o.len() >= u8::MAX as usize) {
        return None;
    }
    // best[b]: best value using cost at most b units; choice[i][b]: option+1 taken by
    // customer i at budget b (0 = none), for backtracking.
    let mut best = vec![0.0f64; width];
    let mut choice = vec![0u8; customers.len() * width];
    for (i, options) in customers.iter().enumerate() {
        let previous = best.clone();
        for (k, option) in options.iter().enumerate() {
            if !useful(option) {
                continue;
            }
            let w = (option.cost / unit) as usize;
            for b in w..width {
                let candidate = previous[b - w] + option.value;
                if candidate > best[b] {
                    best[b] = candidate;
                    choice[i * width + b] = (k + 1) as u8;
                }
            }
        }
    }
    let mut picks = vec![None; customers.len()];
    let mut b = width - 1;
    let (mut total_cost, mut total_value) = (0u64, 0.0);
    for i in (0..customers.len()).rev() {
        let k = choice[i * width + b];
        if k > 0 {
            let option = customers[i][(k - 1) as usize];
            picks[i] = Some((k - 1) as usize);
            total_cost += option.cost;
            total_value += option.value;
            b -= (option.cost / unit) as usize;
        }
    }
    Some(Plan {
        picks,
        total_cost,
        total_value,
        upper_bound: total_value,
        exact: true,
    })
}

/// One step up a customer's convex hull: from option `from` to option `to`.
struct Increment {
    customer: usize,
    to: usize,
    extra_cost: u64,
    extra_value: f64,
}

/// Upper convex hull of (cost, value) starting at the "nothing" point (0, 0): the options
/// an LP would ever pick, in increasing cost with decreasing marginal efficiency.
fn hull(options: &[Choice], budget: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..options.len())
        .filter(|&k| options[k].value > 0.0 && options[k].cost <= budget)
        .collect();
    idx.sort_by(|&a, &b| {
        options[a]
            .cost
            .cmp(&options[b].cost)
            .then(options[b].value.total_cmp(&options[a].value))
    });
    let mut out: Vec<usize> = Vec::new();
    let point =
        |k: Option<usize>| k.map_or((0.0, 0.0), |k| (options[k].cost as f64, options[k].value));
    for k in idx {
        let (c, v) = point(Some(k));
        // Dominated: costs at least as much as the last kept point, worth no more.
        if v <= point(out.last().copied()).1 {
            continue;
        }
        while let Some(&last) = out.last() {
            let (c1, v1) = point(Some(last));
            let (c0, v0) = point(out.len().checked_sub(2).map(|i| out[i]));
            // Drop `last` if it lies on or below the segment from the previous point to k.
            if (v1 - v0) * (c - c0) <= (v - v0) * (c1 - c0) {
                out.pop();
            } else {
                break;
            }
        }
        out.push(k);
    }
    out
}

/// Greedy over hull increments by efficiency (value per unit cost), skipping increments
/// that no longer fit. The LP bound adds the fraction of the first increment that did not
/// fit, so `upper_bound - total_value` bounds the gap to the optimum.
pub fn solve_greedy(customers: &[Vec<Choice>], budget: u64) -> Plan {
    let mut increments = Vec::new();
    for (i, options) in customers.iter().enumerate() {
        let (mut cost, mut value) = (0u64, 0.0);
        for k in hull(options, budget) {
            increments.push(Increment {
                customer: i,
                to: k,
                extra_cost: options[k].cost - cost,
                extra_value: options[k].value - value,
            });
            cost = options[k].cost;
            value = options[k].value;
        }
    }
    let efficiency = |inc: &Increment| {
        if inc.extra_cost == 0 {
            f64::INFINITY
        } else {
            inc.extra_value / inc.extra_cost as f64
        }
    };
    increments.sort_by(|a, b| efficiency(b).total_cmp(&efficiency(a)));
    let mut picks: Vec<Option<usize>> = vec![None; customers.len()];
    let mut blocked = vec![false; customers.len()];
    let mut remaining = budget;
    for inc in &increments {
        if blocked[inc.customer] {
            continue;
        }
        if inc.extra_cost <= remaining {
            remaining -= inc.extra_cost;
            picks[inc.customer] = Some(inc.to);
        } else {
            // Later hull steps of this customer build on this one: stop the customer.
            blocked[inc.customer] = true;
        }
    }
    let (total_cost, total_value) = totals(customers, &picks);
    // LP bound: everything taken before the first miss plus its fraction; never below
    // what was actually achieved.
    let lp_bound = lp_bound(&increments, budget);
    Plan {
        picks,
        total_cost,
        total_value,
        upper_bound: lp_bound.max(total_value),
        exact: false,
    }
}

/// Value of the LP relaxation: increments in efficiency order, the last one fractional.
fn lp_bound(sorted: &[Increment], budget: u64) -> f64 {
    let mut remaining = budget as f64;
    let mut value = 0.0;
    for inc in sorted {
        if (inc.extra_cost as f64) <= remaining {
            remaining -= inc.extra_cost as f64;
            value += inc.extra_value;
        } else {
            value += inc.extra_value * remaining / inc.extra_cost as f64;
            break;
        }
    }
    value
}

fn totals(customers: &[Vec<Choice>], picks: &[Option<usize>]) -> (u64, f64) {
    picks
        .iter()
        .enumerate()
        .filter_map(|(i, k)| k.map(|k| customers[i][k]))
        .fold((0, 0.0), |(c, v), o| (c + o.cost, v + o.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn brute_force(customers: &[Vec<Choice>], budget: u64) -> f64 {
        fn go(customers: &[Vec<Choice>], i: usize, left: u64) -> f64 {
            if i == customers.len() {
                return 0.0;
            }
            let mut best = go(customers, i + 1, left);
            for o in &customers[i] {
                if o.cost <= left && o.value > 0.0 {
                    best = best.max(o.value + go(customers, i + 1, left - o.cost));
                }
            }
            best
        }
        go(customers, 0, budget)
    }

    fn random_instance(rng: &mut StdRng) -> (Vec<Vec<Choice>>, u64) {
        let n = rng.random_range(1..=6);
        let customers = (0..n)
            .map(|_| {
                (0..rng.random_range(0..=4))
                    .map(|_| Choice {
                        cost: rng.random_range(0..=500),
                        value: rng.random_range(-50.0..400.0),
                    })
                    .collect()
            })
            .collect();
        (customers, rng.random_range(0..=1200))
    }

    #[test]
    fn hand_checked_case() {
        // Budget 10. A: (6, 10) or (4, 7); B: (5, 8) or (3, 4). Best: A(6,10)+B(3,4)=14
        // vs A(4,7)+B(5,8)=15 -> 15.
        let customers = vec![
            vec![
                Choice {
                    cost: 6,
                    value: 10.0,
                },
                Choice {
                    cost: 4,
                    value: 7.0,
                },
            ],
            vec![
                Choice {
                    cost: 5,
                    value: 8.0,
                },
                Choice {
                    cost: 3,
                    value: 4.0,
                },
            ],
        ];
        let plan = solve_exact(&customers, 10, MAX_EXACT_CELLS).expect("small");
        assert_eq!(plan.picks, vec![Some(1), Some(0)]);
        assert_eq!(plan.total_cost, 9);
        assert_eq!(plan.total_value, 15.0);
        // Loss-making options are never chosen, even when free.
        let losers = vec![vec![Choice {
            cost: 0,
            value: -1.0,
        }]];
        assert_eq!(
            solve_exact(&losers, 10, MAX_EXACT_CELLS)
                .expect("small")
                .picks,
            vec![None]
        );
    }

    #[test]
    fn exact_matches_brute_force_and_respects_the_budget() {
        let mut rng = StdRng::seed_from_u64(2026);
        for _ in 0..400 {
            let (customers, budget) = random_instance(&mut rng);
            let plan = solve_exact(&customers, budget, MAX_EXACT_CELLS).expect("small");
            let optimum = brute_force(&customers, budget);
            assert!(
                (plan.total_value - optimum).abs() < 1e-6,
                "{customers:?} {budget}"
            );
            assert!(plan.total_cost <= budget);
            let (cost, value) = totals(&customers, &plan.picks);
            assert_eq!(cost, plan.total_cost);
            assert!((value - plan.total_value).abs() < 1e-9);
        }
    }

    #[test]
    fn greedy_is_feasible_and_within_its_stated_gap() {
        let mut rng = StdRng::seed_from_u64(99);
        for _ in 0..400 {
            let (customers, budget) = random_instance(&mut rng);
            let plan = solve_greedy(&customers, budget);
            let optimum = brute_force(&customers, budget);
            assert!(plan.total_cost <= budget);
            assert!(plan.total_value <= optimum + 1e-6);
            assert!(
                plan.upper_bound + 1e-6 >= optimum,
                "{customers:?} {budget} {plan:?}"
            );
        }
    }

    #[test]
    fn too_large_tables_fall_back_to_greedy() {
        let customers = vec![
            vec![Choice {
                cost: 7,
                value: 1.0
            }];
            10
        ];
        assert!(solve_exact(&customers, 1_000_000_007, 1_000).is_none());
        let plan = allocate(&customers, 20);
        assert!(plan.exact, "gcd scaling keeps this small");
        assert_eq!(plan.total_cost, 14);
    }
}
