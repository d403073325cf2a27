//! A small expression language for `assert` and `when`: numbers, strings,
//! `true`/`false`/`null`, captured names, `+ - * /`, comparisons, `&& || !`,
//! parentheses and `ceil floor abs len num str`.

use serde_json::Value;

use super::template::Vars;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    Var(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Box<Expr>, Op, Box<Expr>),
    Call(String, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

const FUNCTIONS: [&str; 6] = ["ceil", "floor", "abs", "len", "num", "str"];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Ident(String),
    Sym(&'static str),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    const SYMS: [&str; 16] = [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "(", ")", "!", ",",
    ];
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let st = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                i += 1;
            }
            let t: String = b[st..i].iter().collect();
            out.push(Tok::Num(
                t.parse().map_err(|_| format!("bad number `{t}`"))?,
            ));
        } else if c == '"' || c == '\'' {
            let st = i + 1;
            i += 1;
            while i < b.len() && b[i] != c {
                i += 1;
            }
            if i >= b.len() {
                return Err("unclosed string".into());
            }
            out.push(Tok::Str(b[st..i].iter().collect()));
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let st = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '.') {
                i += 1;
            }
            out.push(Tok::Ident(b[st..i].iter().collect()));
        } else {
            let rest: String = b[i..].iter().take(2).collect();
            let sym = SYMS
                .iter()
                .find(|s| rest.starts_with(**s))
                .ok_or_else(|| format!("unexpected `{c}`"))?;
            out.push(Tok::Sym(sym));
            i += sym.len();
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_sym(&self, s: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Sym(x)) if *x == s)
    }
    fn eat(&mut self, s: &str) -> bool {
        if self.peek_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        const LEVELS: [&[(&str, Op)]; 5] = [
            &[("||", Op::Or)],
            &[("&&", Op::And)],
            &[
                ("==", Op::Eq),
                ("!=", Op::Ne),
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
            ],
            &[("+", Op::Add), ("-", Op::Sub)],
            &[("*", Op::Mul), ("/", Op::Div)],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        'outer: loop {
            for (s, op) in LEVELS[level] {
                if self.eat(s) {
                    let right = self.binary(level + 1)?;
                    left = Expr::Bin(Box::new(left), *op, Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self
            .toks
            .get(self.pos)
            .cloned()
            .ok_or("unexpected end of expression")?;
        self.pos += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Lit(serde_json::json!(n))),
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Ident(id) => match id.as_str() {
                "true" => Ok(Expr::Lit(Value::Bool(true))),
                "false" => Ok(Expr::Lit(Value::Bool(false))),
                "null" => Ok(Expr::Lit(Value::Null)),
                _ if self.eat("(") => {
                    if !FUNCTIONS.contains(&id.as_str()) {
                        return Err(format!(
                            "unknown function `{id}` (known: {})",
                            FUNCTIONS.join(", ")
                        ));
                    }
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.binary(0)?);
                            if self.eat(")") {
                                break;
                            }
                            if !self.eat(",") {
                                return Err(format!("expected `,` or `)` in call to `{id}`"));
                            }
                        }
                    }
                    Ok(Expr::Call(id, args))
                }
                _ => Ok(Expr::Var(id)),
            },
            Tok::Sym("(") => {
                let e = self.binary(0)?;
                if !self.eat(")") {
                    return Err("expected `)`".into());
                }
                Ok(e)
            }
            Tok::Sym(s) => Err(format!("unexpected `{s}`")),
        }
    }
}

pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(s)?,
        pos: 0,
    };
    let e = p.binary(0)?;
    if p.pos != p.toks.len() {
        return Err(format!(
            "unexpected input after position {} in `{s}`",
            p.pos
        ));
    }
    Ok(e)
}

impl Expr {
    /// Variable names the expression reads.
    pub fn vars(&self, out: &mut Vec<String>) {
        match self {
            Expr::Lit(_) => {}
            Expr::Var(v) => out.push(v.clone()),
            Expr::Not(e) | Expr::Neg(e) => e.vars(out),
            Expr::Bin(a, _, b) => {
                a.vars(out);
                b.vars(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.vars(out)),
        }
    }

    pub fn eval(&self, vars: &dyn Vars) -> Result<Value, String> {
        Ok(match self {
            Expr::Lit(v) => v.clone(),
            Expr::Var(n) => vars
                .get(n)
                .ok_or_else(|| format!("unknown variable `{n}`"))?,
            Expr::Not(e) => Value::Bool(!truthy(&e.eval(vars)?)),
            Expr::Neg(e) => num_value(-num(&e.eval(vars)?)?),
            Expr::Bin(a, op, b) => {
                let x = a.eval(vars)?;
                match op {
                    Op::And if !truthy(&x) => return Ok(Value::Bool(false)),
                    Op::Or if truthy(&x) => return Ok(Value::Bool(true)),
                    _ => {}
                }
                let y = b.eval(vars)?;
                match op {
                    Op::And | Op::Or => Value::Bool(truthy(&y)),
                    Op::Add => num_value(num(&x)? + num(&y)?),
                    Op::Sub => num_value(num(&x)? - num(&y)?),
                    Op::Mul => num_value(num(&x)? * num(&y)?),
                    Op::Div => {
                        let d = num(&y)?;
                        if d == 0.0 {
                            return Err("division by zero".into());
                        }
                        num_value(num(&x)? / d)
                    }
                    Op::Eq => Value::Bool(equal(&x, &y)),
                    Op::Ne => Value::Bool(!equal(&x, &y)),
                    Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                        let (l, r) = (num(&x)?, num(&y)?);
                        Value::Bool(match op {
                            Op::Lt => l < r,
                            Op::Le => l <= r,
                            Op::Gt => l > r,
                            _ => l >= r,
                        })
                    }
                }
            }
            Expr::Call(f, args) => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(vars))
                    .collect::<Result<Vec<_>, _>>()?;
                let one = || {
                    vals.first()
                        .cloned()
                        .ok_or_else(|| format!("`{f}` takes one argument"))
                };
                match f.as_str() {
                    "ceil" => num_value(num(&one()?)?.ceil()),
                    "floor" => num_value(num(&one()?)?.floor()),
                    "abs" => num_value(num(&one()?)?.abs()),
                    "num" => num_value(num(&one()?)?),
                    "str" => Value::String(super::template::display(&one()?)),
                    "len" => serde_json::json!(match one()? {
                        Value::Array(a) => a.len(),
                        Value::Object(o) => o.len(),
                        Value::String(s) => s.chars().count(),
                        Value::Null => 0,
                        _ => 1,
                    }),
                    _ => return Err(format!("unknown function `{f}`")),
                }
            }
        })
    }
}

pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// A value as a number: numbers, and strings that parse as one.
pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn num(v: &Value) -> Result<f64, String> {
    as_number(v).ok_or_else(|| format!("`{}` is not a number", super::template::display(v)))
}

fn num_value(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        serde_json::json!(x as i64)
    } else {
        serde_json::json!(x)
    }
}

/// Numbers equal up to float rounding: credits are exact decimals on the
/// wire (`91.75`), but `12.5 / 60 * 60` is not exactly `12.5` in binary.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Equality that treats `30`, `30.0` and `"30"` alike (numbers up to float
/// rounding), and otherwise compares JSON.
pub fn equal(x: &Value, y: &Value) -> bool {
    let numeric = matches!(x, Value::Number(_)) || matches!(y, Value::Number(_));
    if numeric {
        if let (Some(a), Some(b)) = (as_number(x), as_number(y)) {
            return close(a, b);
        }
    }
    x == y
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(n: &str) -> Option<Value> {
        match n {
            "before" => Some(json!(1000)),
            "after" => Some(json!("970")),
            "a" => Some(json!("job_1")),
            "b" => Some(json!("job_1")),
            "nothing" => Some(Value::Null),
            _ => None,
        }
    }

    fn ev(s: &str) -> Value {
        parse(s).unwrap().eval(&vars).unwrap()
    }

    #[test]
    fn arithmetic_and_comparisons() {
        assert_eq!(ev("before - after == 30"), json!(true));
        assert_eq!(ev("ceil(30 * 45 / 60) == 23"), json!(true));
        assert_eq!(ev("a == b && !(a != b)"), json!(true));
        assert_eq!(ev("nothing == null || 1 > 2"), json!(true));
        assert_eq!(ev("-1 + 2 * 3"), json!(5));
        assert_eq!(ev("len(a)"), json!(5));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(parse("1 +").unwrap_err().contains("end"));
        assert!(parse("frob(1)").unwrap_err().contains("frob"));
        assert!(parse("1 ) 2").is_err());
        assert!(
            parse("missing + 1")
                .unwrap()
                .eval(&vars)
                .unwrap_err()
                .contains("missing")
        );
        assert!(
            parse("a * 2")
                .unwrap()
                .eval(&vars)
                .unwrap_err()
                .contains("not a number")
        );
        let mut v = vec![];
        parse("x + ceil(y)").unwrap().vars(&mut v);
        assert_eq!(v, vec!["x", "y"]);
    }
}
