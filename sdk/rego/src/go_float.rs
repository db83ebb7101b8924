//! Go's `big.Float` at its default precision, as OPA computes with it: a 64-bit mantissa,
//! rounded to nearest even; decimals read as `SetString` reads them, written as `Text('g', -1)`
//! writes them (the shortest decimal that reads back). `units.parse_bytes` and the arithmetic
//! operators ([`super::arithmetic`]) compute on it.

use std::cmp::Ordering;

use num_bigint::{BigInt, BigUint, Sign};

/// Go's `big.Float` default precision.
pub(crate) const PRECISION: u64 = 64;

/// A binary floating-point number, `±mantissa × 2^exponent`, the mantissa of [`PRECISION`] bits
/// (or zero).
#[derive(Debug, PartialEq)]
pub(crate) struct GoFloat {
    pub(crate) negative: bool,
    pub(crate) mantissa: BigUint,
    pub(crate) exponent: i64,
}

impl GoFloat {
    /// `±numerator / denominator × 2^exponent`, rounded to `bits` significant bits, to nearest
    /// even.
    pub(crate) fn rounded(
        negative: bool,
        numerator: &BigUint,
        denominator: &BigUint,
        exponent: i64,
        bits: u64,
    ) -> Self {
        let zero = BigUint::ZERO;
        if *numerator == zero {
            return Self {
                negative: false,
                mantissa: zero,
                exponent: 0,
            };
        }
        // A shift that leaves `bits` + 2 or 3 bits in the quotient.
        let shift = i64::try_from(bits + denominator.bits()).unwrap_or(i64::MAX)
            - i64::try_from(numerator.bits()).unwrap_or(0)
            + 2;
        let (quotient, remainder) = match usize::try_from(shift) {
            Ok(up) => {
                let scaled = numerator << up;
                (&scaled / denominator, &scaled % denominator)
            }
            Err(_) => {
                let down = usize::try_from(-shift).unwrap_or(usize::MAX);
                let scaled = denominator << down;
                (numerator / &scaled, numerator % &scaled)
            }
        };
        let extra = quotient.bits().saturating_sub(bits);
        let dropped = usize::try_from(extra).unwrap_or(usize::MAX);
        let mut mantissa = &quotient >> dropped;
        let low = &quotient - (&mantissa << dropped);
        let half = BigUint::from(1u8) << (dropped.saturating_sub(1));
        let sticky = remainder != zero;
        let round_up = extra > 0 && (low > half || (low == half && (sticky || mantissa.bit(0))));
        let mut exponent = exponent - shift + i64::try_from(extra).unwrap_or(0);
        if round_up {
            mantissa += 1u8;
            if mantissa.bits() > bits {
                mantissa >>= 1;
                exponent += 1;
            }
        }
        Self {
            negative,
            mantissa,
            exponent,
        }
    }

    /// `±digits × 10^exponent` as Go's `SetString` reads it: the digits exactly, multiplied by
    /// 5 to the power of the exponent held in 128 bits (the power of 2 is exact), the product or
    /// quotient rounded to 64 bits.
    pub(crate) fn from_decimal(negative: bool, digits: &BigUint, exponent: i64) -> Self {
        let one = BigUint::from(1u8);
        if exponent == 0 {
            return Self::rounded(negative, digits, &one, 0, PRECISION);
        }
        let power = u32::try_from(exponent.unsigned_abs()).unwrap_or(u32::MAX);
        let five = Self::rounded(
            false,
            &BigUint::from(5u8).pow(power),
            &one,
            0,
            2 * PRECISION,
        );
        match exponent > 0 {
            true => Self::rounded(
                negative,
                &(digits * &five.mantissa),
                &one,
                exponent + five.exponent,
                PRECISION,
            ),
            false => Self::rounded(
                negative,
                digits,
                &five.mantissa,
                exponent - five.exponent,
                PRECISION,
            ),
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.mantissa == BigUint::ZERO
    }

    pub(crate) fn negated(&self) -> Self {
        Self {
            negative: !self.negative && !self.is_zero(),
            mantissa: self.mantissa.clone(),
            exponent: self.exponent,
        }
    }

    fn signed(&self) -> BigInt {
        let sign = if self.negative {
            Sign::Minus
        } else {
            Sign::Plus
        };
        BigInt::from_biguint(sign, self.mantissa.clone())
    }

    /// `self + other`, rounded.
    pub(crate) fn add(&self, other: &Self) -> Self {
        let low = self.exponent.min(other.exponent);
        let aligned = |x: &Self| x.signed() << (x.exponent - low).unsigned_abs();
        let sum = aligned(self) + aligned(other);
        let one = BigUint::from(1u8);
        Self::rounded(
            sum.sign() == Sign::Minus,
            sum.magnitude(),
            &one,
            low,
            PRECISION,
        )
    }

    /// `self × other`, rounded.
    pub(crate) fn times(&self, other: &Self) -> Self {
        Self::rounded(
            self.negative != other.negative,
            &(&self.mantissa * &other.mantissa),
            &BigUint::from(1u8),
            self.exponent.saturating_add(other.exponent),
            PRECISION,
        )
    }

    /// `self / other` (not zero), rounded.
    pub(crate) fn divide(&self, other: &Self) -> Self {
        Self::rounded(
            self.negative != other.negative,
            &self.mantissa,
            &other.mantissa,
            self.exponent.saturating_sub(other.exponent),
            PRECISION,
        )
    }

    /// The integer part's magnitude.
    pub(crate) fn truncated(&self) -> BigUint {
        match usize::try_from(self.exponent) {
            Ok(up) => &self.mantissa << up,
            Err(_) => {
                let down = usize::try_from(-self.exponent).unwrap_or(usize::MAX);
                match down >= usize::try_from(self.mantissa.bits()).unwrap_or(usize::MAX) {
                    true => BigUint::ZERO,
                    false => &self.mantissa >> down,
                }
            }
        }
    }

    /// The shortest decimal that reads back to this float, as `Text('g', -1)` finds it:
    /// whether it is negative, its digits and their power of ten. Any decimal closer than half a
    /// mantissa unit reads back to this float (the bounds too when the mantissa is even, as Go
    /// rounds ties to even).
    pub(crate) fn shortest(&self) -> (bool, BigUint, i64) {
        if self.is_zero() {
            return (false, BigUint::ZERO, 0);
        }
        // Exactly: value = whole / 10^scale.
        let scale = (-self.exponent).max(0);
        let whole = match self.exponent >= 0 {
            true => &self.mantissa << self.exponent.unsigned_abs(),
            false => {
                &self.mantissa * BigUint::from(5u8).pow(u32::try_from(scale).unwrap_or(u32::MAX))
            }
        };
        let all = whole.to_str_radix(10);
        let length = i64::try_from(all.len()).unwrap_or(i64::MAX);
        let twice = &self.mantissa << 1u8;
        let lower = &twice - 1u8;
        let upper = &twice + 1u8;
        let inclusive = !self.mantissa.bit(0);
        for kept in 1..=all.len() {
            let (head, rest) = all.split_at_checked(kept).unwrap_or((&all, ""));
            let mut digits = BigUint::parse_bytes(head.as_bytes(), 10).unwrap_or_default();
            let up = match rest.as_bytes().first() {
                Some(b'6'..=b'9') => true,
                Some(b'5') => rest.bytes().skip(1).any(|b| b != b'0') || digits.bit(0),
                _ => false,
            };
            if up {
                digits += 1u8;
            }
            let power = length - i64::try_from(kept).unwrap_or(0) - scale;
            let above = compare(&digits, power, &lower, self.exponent - 1);
            let below = compare(&digits, power, &upper, self.exponent - 1);
            let inside = match inclusive {
                true => above.is_ge() && below.is_le(),
                false => above.is_gt() && below.is_lt(),
            };
            if inside {
                return (self.negative, digits, power);
            }
        }
        (self.negative, whole, -scale)
    }
}

fn pow10(exponent: i64) -> BigUint {
    BigUint::from(10u8).pow(u32::try_from(exponent.max(0)).unwrap_or(u32::MAX))
}

/// `digits × 10^power` against `binary × 2^exponent`.
fn compare(digits: &BigUint, power: i64, binary: &BigUint, exponent: i64) -> Ordering {
    let left = (digits * pow10(power)) << exponent.min(0).unsigned_abs();
    let right = (binary * pow10(-power)) << exponent.max(0).unsigned_abs();
    left.cmp(&right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_floats_round_to_nearest_even() {
        let one = BigUint::from(1u8);
        let round = |n: u64, bits| GoFloat::rounded(false, &BigUint::from(n), &one, 0, bits);
        // 0b1011 to 3 bits: 0b110 × 2 (up: above half); 0b1010: a tie, to even 0b101 × 2.
        assert_eq!(round(0b1011, 3).mantissa, BigUint::from(0b110u8));
        assert_eq!(round(0b1010, 3).mantissa, BigUint::from(0b101u8));
        assert_eq!(round(0b1001, 3).mantissa, BigUint::from(0b100u8));
        assert_eq!(round(0b111, 2).mantissa, BigUint::from(0b10u8));
        assert_eq!(round(0b111, 2).exponent, 2);
        let third = GoFloat::rounded(false, &one, &BigUint::from(3u8), 0, 4);
        assert_eq!((third.mantissa, third.exponent), (BigUint::from(11u8), -5));
        // 2^64 + 1 is halfway between two 64-bit mantissas: to the even one, 2^64.
        let halfway = GoFloat::from_decimal(false, &((one.clone() << 64u8) + 1u8), 0);
        assert_eq!((halfway.mantissa, halfway.exponent), (one << 63u8, 1));
    }

    #[test]
    fn the_shortest_decimal_reads_back() {
        let shortest = |digits: u64, exponent: i64| {
            let (_, digits, power) =
                GoFloat::from_decimal(false, &BigUint::from(digits), exponent).shortest();
            format!("{digits}e{power}")
        };
        assert_eq!(shortest(1, -1), "1e-1");
        assert_eq!(shortest(15, 299), "15e299");
        assert_eq!(shortest(123_456_789, 0), "123456789e0");
        // 1/3 needs twenty digits at 64 bits.
        let third = GoFloat::rounded(false, &BigUint::from(1u8), &BigUint::from(3u8), 0, 64);
        let (_, digits, power) = third.shortest();
        assert_eq!(format!("{digits}e{power}"), "33333333333333333334e-20");
    }
}
