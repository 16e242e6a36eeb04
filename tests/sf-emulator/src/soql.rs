//! A SOQL subset: lexer, parser and binder.
//!
//! Supported: `SELECT f1, f2 | COUNT() FROM Lead|Contact [WHERE cond] [ORDER BY f [ASC|DESC], ...]
//! [LIMIT n]`, where `cond` combines `field = v`, `field != v`, `field <> v`,
//! `field [NOT] IN (v, ...)`, `NOT cond` and parentheses with `AND` / `OR`. As in real
//! SOQL, `AND` and `OR` may not be mixed at one level without parentheses. Keywords,
//! field and object names are case-insensitive; string literals take `\'`-style escapes.
//!
//! Errors follow Salesforce's query error text: the offending line, a caret, `ERROR at
//! Row:R:Column:C` and the message (plugin/SALESFORCE.md §4.5); query errors say
//! "on entity 'Lead'" where DML errors say "on sobject of type Lead".

use rustc_hash::FxHashSet;

use crate::error::ApiError;
use crate::model::SObject;
use crate::schema::{FieldRef, FieldType, ObjectSchema};
use crate::sfid;
use crate::store::fold_email;

/// A 1-based position in the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line number.
    pub row: u32,
    /// Column (characters) within the line.
    pub col: u32,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
    text: String,
}

/// A parse or bind failure, turned into a REST error by [`SoqlError::to_api_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoqlError {
    /// `MALFORMED_QUERY`, `INVALID_FIELD`, `INVALID_TYPE`, `INVALID_QUERY_FILTER_OPERATOR`.
    pub code: &'static str,
    /// Where in the query.
    pub pos: Pos,
    /// The message after the position header.
    pub detail: String,
}

impl SoqlError {
    fn new(code: &'static str, pos: Pos, detail: impl Into<String>) -> SoqlError {
        SoqlError {
            code,
            pos,
            detail: detail.into(),
        }
    }

    /// The full Salesforce message: `\n<line>\n<caret>\nERROR at Row:R:Column:C\n<detail>`.
    pub fn message(&self, query: &str) -> String {
        let line = query
            .lines()
            .nth(self.pos.row.saturating_sub(1) as usize)
            .unwrap_or("");
        let caret = " ".repeat(self.pos.col.saturating_sub(1) as usize);
        format!(
            "\n{line}\n{caret}^\nERROR at Row:{}:Column:{}\n{}",
            self.pos.row, self.pos.col, self.detail
        )
    }

    /// The HTTP 400 REST error.
    pub fn to_api_error(&self, query: &str) -> ApiError {
        ApiError::new(400, self.code, self.message(query))
    }
}

fn lex(input: &str) -> Result<Vec<Token>, SoqlError> {
    let mut out = Vec::new();
    let chars: Vec<char> = input.chars().collect();
    let (mut i, mut row, mut col) = (0usize, 1u32, 1u32);
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { row, col };
        if c == '\n' {
            i += 1;
            row += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            col += 1;
            continue;
        }
        let start = i;
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            Tok::Num(chars[start..i].iter().collect())
        } else if c == '\'' {
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => {
                        return Err(SoqlError::new(
                            "MALFORMED_QUERY",
                            pos,
                            "unterminated string literal",
                        ));
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        let escaped = match chars.get(i + 1) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some('b') => '\u{8}',
                            Some('f') => '\u{c}',
                            Some(&e @ ('\'' | '"' | '\\' | '_' | '%')) => e,
                            _ => {
                                return Err(SoqlError::new(
                                    "MALFORMED_QUERY",
                                    pos,
                                    "Invalid string literal: illegal escape sequence",
                                ));
                            }
                        };
                        // SOQL keeps `\_` and `\%` escaped (they matter only to LIKE).
                        if escaped == '_' || escaped == '%' {
                            value.push('\\');
                        }
                        value.push(escaped);
                        i += 2;
                    }
                    Some('\n') => {
                        return Err(SoqlError::new(
                            "MALFORMED_QUERY",
                            pos,
                            "unterminated string literal",
                        ));
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            Tok::Str(value)
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let sym = match two.as_str() {
                "!=" => Some("!="),
                "<>" => Some("<>"),
                "<=" => Some("<="),
                ">=" => Some(">="),
                _ => None,
            };
            if let Some(s) = sym {
                i += 2;
                Tok::Sym(s)
            } else {
                let s = match c {
                    '(' => "(",
                    ')' => ")",
                    ',' => ",",
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    ':' => ":",
                    _ => {
                        return Err(SoqlError::new(
                            "MALFORMED_QUERY",
                            pos,
                            format!("unexpected token: '{c}'"),
                        ));
                    }
                };
                i += 1;
                Tok::Sym(s)
            }
        };
        col += (i - start) as u32;
        out.push(Token {
            tok,
            pos,
            text: chars[start..i].iter().collect(),
        });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: Pos { row, col },
        text: "<EOF>".to_owned(),
    });
    Ok(out)
}

/// A field name as written, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The text.
    pub text: String,
    /// Where it appeared.
    pub pos: Pos,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'`.
    Str(String),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A number, as written.
    Num(String),
}

/// A parsed WHERE condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// All must hold.
    And(Vec<Cond>),
    /// Any must hold.
    Or(Vec<Cond>),
    /// Negation.
    Not(Box<Cond>),
    /// `field = v` / `field != v` / `field IN (..)` / `field NOT IN (..)`.
    Match {
        /// The field.
        field: Name,
        /// The accepted values.
        values: Vec<(Literal, Pos)>,
        /// `!=`, `<>`, `NOT IN`.
        negated: bool,
    },
}

/// The parsed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `None` for `COUNT()`.
    pub fields: Option<Vec<Name>>,
    /// The FROM object as written.
    pub object: Name,
    /// WHERE.
    pub cond: Option<Cond>,
    /// ORDER BY (field, descending).
    pub order: Vec<(Name, bool)>,
    /// LIMIT.
    pub limit: Option<u64>,
}

/// Deepest nesting of parentheses and `NOT` accepted. The parser is recursive; without
/// a bound, `((((...` in a long query would exhaust a worker thread's stack.
const MAX_DEPTH: u32 = 64;

struct Parser {
    toks: Vec<Token>,
    at: usize,
    depth: u32,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn unexpected(&self) -> SoqlError {
        let t = self.peek();
        SoqlError::new(
            "MALFORMED_QUERY",
            t.pos,
            format!("unexpected token: {}", t.text),
        )
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.next();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(x) if *x == s)
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), SoqlError> {
        if self.is_sym(s) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn name(&mut self) -> Result<Name, SoqlError> {
        match &self.peek().tok {
            Tok::Ident(s) if !is_reserved(s) => {
                let name = Name {
                    text: s.clone(),
                    pos: self.peek().pos,
                };
                self.next();
                Ok(name)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn statement(&mut self) -> Result<Statement, SoqlError> {
        self.expect_kw("SELECT")?;
        let fields = if self.is_kw("COUNT") {
            self.next();
            self.expect_sym("(")?;
            self.expect_sym(")")?;
            None
        } else {
            let mut fields = vec![self.name()?];
            while self.is_sym(",") {
                self.next();
                fields.push(self.name()?);
            }
            Some(fields)
        };
        self.expect_kw("FROM")?;
        let object = self.name()?;
        let cond = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let field = self.name()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                if self.eat_kw("NULLS") && !(self.eat_kw("FIRST") || self.eat_kw("LAST")) {
                    return Err(self.unexpected());
                }
                order.push((field, desc));
                if !self.is_sym(",") {
                    break;
                }
                self.next();
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            match &self.peek().tok {
                Tok::Num(n) => {
                    let v = n.parse::<u64>().map_err(|_| self.unexpected())?;
                    self.next();
                    Some(v)
                }
                _ => return Err(self.unexpected()),
            }
        } else {
            None
        };
        if !matches!(self.peek().tok, Tok::Eof) {
            return Err(self.unexpected());
        }
        Ok(Statement {
            fields,
            object,
            cond,
            order,
            limit,
        })
    }

    /// A run of terms joined by one connector; mixing AND and OR needs parentheses.
    fn condition(&mut self) -> Result<Cond, SoqlError> {
        let first = self.unary()?;
        let connector = if self.is_kw("AND") {
            "AND"
        } else if self.is_kw("OR") {
            "OR"
        } else {
            return Ok(first);
        };
        let mut terms = vec![first];
        while self.is_kw("AND") || self.is_kw("OR") {
            if !self.is_kw(connector) {
                return Err(self.unexpected());
            }
            self.next();
            terms.push(self.unary()?);
        }
        Ok(if connector == "AND" {
            Cond::And(terms)
        } else {
            Cond::Or(terms)
        })
    }

    fn nest<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, SoqlError>,
    ) -> Result<T, SoqlError> {
        if self.depth >= MAX_DEPTH {
            let pos = self.peek().pos;
            return Err(SoqlError::new(
                "MALFORMED_QUERY",
                pos,
                "the WHERE clause is nested too deeply",
            ));
        }
        self.depth += 1;
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn unary(&mut self) -> Result<Cond, SoqlError> {
        if self.eat_kw("NOT") {
            return self.nest(|p| Ok(Cond::Not(Box::new(p.unary()?))));
        }
        if self.is_sym("(") {
            self.next();
            return self.nest(|p| {
                let inner = p.condition()?;
                p.expect_sym(")")?;
                Ok(inner)
            });
        }
        let field = self.name()?;
        if self.is_sym("=") || self.is_sym("!=") || self.is_sym("<>") {
            let negated = !self.is_sym("=");
            self.next();
            let value = self.literal()?;
            return Ok(Cond::Match {
                field,
                values: vec![value],
                negated,
            });
        }
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            self.expect_sym("(")?;
            let mut values = vec![self.literal()?];
            while self.is_sym(",") {
                self.next();
                values.push(self.literal()?);
            }
            self.expect_sym(")")?;
            return Ok(Cond::Match {
                field,
                values,
                negated,
            });
        }
        if self.is_kw("LIKE")
            || self.is_sym("<")
            || self.is_sym(">")
            || self.is_sym("<=")
            || self.is_sym(">=")
        {
            let t = self.peek();
            return Err(SoqlError::new(
                "MALFORMED_QUERY",
                t.pos,
                format!(
                    "unexpected token: {} (the emulator supports =, !=, <>, IN and NOT IN only)",
                    t.text
                ),
            ));
        }
        Err(self.unexpected())
    }

    fn literal(&mut self) -> Result<(Literal, Pos), SoqlError> {
        let t = self.peek().clone();
        let lit = match &t.tok {
            Tok::Str(s) => Literal::Str(s.clone()),
            Tok::Num(n) => Literal::Num(n.clone()),
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return Err(self.unexpected()),
        };
        self.next();
        Ok((lit, t.pos))
    }
}

fn is_reserved(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIMIT", "ORDER", "BY", "NULL",
        "TRUE", "FALSE", "LIKE", "ASC", "DESC", "NULLS",
    ];
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s))
}

/// Parses a statement.
pub fn parse(query: &str) -> Result<Statement, SoqlError> {
    let toks = lex(query)?;
    Parser {
        toks,
        at: 0,
        depth: 0,
    }
    .statement()
}

/// A bound, typed predicate over one field.
#[derive(Debug, Clone)]
pub enum Filter {
    /// All must hold.
    And(Vec<Filter>),
    /// Any must hold.
    Or(Vec<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// A checkbox equals one of the values.
    Bool {
        /// The field.
        field: FieldRef,
        /// Accepts true.
        t: bool,
        /// Accepts false.
        f: bool,
    },
    /// An Id or reference field is one of the keys (or null).
    Ids {
        /// The field.
        field: FieldRef,
        /// Case-sensitive 15-character keys.
        keys: FxHashSet<[u8; 15]>,
        /// Accepts null.
        null: bool,
    },
    /// A text field equals one of the (case-folded) values (or null).
    Texts {
        /// The field.
        field: FieldRef,
        /// Lower-cased values.
        values: FxHashSet<String>,
        /// Accepts null.
        null: bool,
    },
    /// Matches nothing (e.g. a checkbox compared with null).
    Never,
}

/// A statement bound to the schema: what to select, filter, order and limit.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The object.
    pub object: SObject,
    /// Selected fields with canonical names; `None` for `COUNT()`.
    pub fields: Option<Vec<(FieldRef, String)>>,
    /// The filter (`None` = all rows).
    pub filter: Option<Filter>,
    /// ORDER BY (field, descending).
    pub order: Vec<(FieldRef, bool)>,
    /// LIMIT.
    pub limit: Option<u64>,
}

fn invalid_field(name: &Name, object: SObject) -> SoqlError {
    SoqlError::new(
        "INVALID_FIELD",
        name.pos,
        format!(
            "No such column '{}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
            name.text,
            object.name()
        ),
    )
}

/// Resolves the object named in FROM.
pub fn object_of(stmt: &Statement) -> Result<SObject, SoqlError> {
    stmt.object.text.parse::<SObject>().map_err(|_| {
        SoqlError::new(
            "INVALID_TYPE",
            stmt.object.pos,
            format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                stmt.object.text
            ),
        )
    })
}

/// Binds a parsed statement to an object's schema (field-level security applies: hidden
/// fields are `INVALID_FIELD`, exactly like missing ones).
pub fn bind(stmt: &Statement, schema: &ObjectSchema) -> Result<Plan, SoqlError> {
    let object = schema.object;
    let fields = match &stmt.fields {
        None => None,
        Some(names) => {
            let mut out: Vec<(FieldRef, String)> = Vec::with_capacity(names.len());
            for name in names {
                let info = schema
                    .lookup(&name.text)
                    .ok_or_else(|| invalid_field(name, object))?;
                if out.iter().any(|(f, _)| *f == info.field) {
                    return Err(SoqlError::new(
                        "MALFORMED_QUERY",
                        name.pos,
                        format!("duplicate field selected: {}", info.name),
                    ));
                }
                out.push((info.field, info.name.to_owned()));
            }
            Some(out)
        }
    };
    let filter = stmt
        .cond
        .as_ref()
        .map(|c| bind_cond(c, schema))
        .transpose()?;
    let order = stmt
        .order
        .iter()
        .map(|(name, desc)| {
            schema
                .lookup(&name.text)
                .map(|info| (info.field, *desc))
                .ok_or_else(|| invalid_field(name, object))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Plan {
        object,
        fields,
        filter,
        order,
        limit: stmt.limit,
    })
}

fn bad_value(pos: Pos, detail: String) -> SoqlError {
    SoqlError::new("INVALID_QUERY_FILTER_OPERATOR", pos, detail)
}

fn bind_cond(cond: &Cond, schema: &ObjectSchema) -> Result<Filter, SoqlError> {
    Ok(match cond {
        Cond::And(terms) => Filter::And(
            terms
                .iter()
                .map(|t| bind_cond(t, schema))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(terms) => Filter::Or(
            terms
                .iter()
                .map(|t| bind_cond(t, schema))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(inner) => Filter::Not(Box::new(bind_cond(inner, schema)?)),
        Cond::Match {
            field,
            values,
            negated,
        } => {
            let info = schema
                .lookup(&field.text)
                .ok_or_else(|| invalid_field(field, schema.object))?;
            let bound = match info.ty {
                FieldType::Boolean => {
                    let (mut t, mut f, mut any) = (false, false, false);
                    for (lit, pos) in values {
                        match lit {
                            Literal::Bool(true) => t = true,
                            Literal::Bool(false) => f = true,
                            Literal::Null => {}
                            Literal::Str(s) | Literal::Num(s) => {
                                return Err(bad_value(*pos, format!("invalid boolean: {s}")));
                            }
                        }
                        any = true;
                    }
                    if any && (t || f) {
                        Filter::Bool {
                            field: info.field,
                            t,
                            f,
                        }
                    } else {
                        Filter::Never
                    }
                }
                FieldType::Id | FieldType::Reference => {
                    let mut keys = FxHashSet::default();
                    let mut null = false;
                    for (lit, pos) in values {
                        match lit {
                            Literal::Str(s) => {
                                let key = sfid::normalize(s).map_err(|_| {
                                    bad_value(*pos, format!("invalid ID field: {s}"))
                                })?;
                                keys.insert(key);
                            }
                            Literal::Null => null = true,
                            Literal::Bool(b) => {
                                return Err(bad_value(*pos, format!("invalid ID field: {b}")));
                            }
                            Literal::Num(n) => {
                                return Err(bad_value(*pos, format!("invalid ID field: {n}")));
                            }
                        }
                    }
                    Filter::Ids {
                        field: info.field,
                        keys,
                        null,
                    }
                }
                FieldType::String | FieldType::Email => {
                    let mut set = FxHashSet::default();
                    let mut null = false;
                    for (lit, pos) in values {
                        match lit {
                            Literal::Str(s) => {
                                set.insert(fold_email(s).into_owned());
                            }
                            Literal::Null => null = true,
                            Literal::Bool(_) | Literal::Num(_) => {
                                return Err(bad_value(
                                    *pos,
                                    format!(
                                        "value of filter criterion for field '{}' must be of type string and should be enclosed in quotes",
                                        info.name
                                    ),
                                ));
                            }
                        }
                    }
                    Filter::Texts {
                        field: info.field,
                        values: set,
                        null,
                    }
                }
                FieldType::DateTime => {
                    return Err(SoqlError::new(
                        "MALFORMED_QUERY",
                        field.pos,
                        format!("the emulator does not filter on {}", info.name),
                    ));
                }
            };
            if *negated {
                Filter::Not(Box::new(bound))
            } else {
                bound
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_query() {
        let s = parse("SELECT Id,Email,HasOptedOutOfEmail,IsConverted,ConvertedContactId FROM Lead WHERE Email IN ('a@x.com','b@y.com')").unwrap();
        assert_eq!(s.fields.as_ref().unwrap().len(), 5);
        assert!(
            matches!(s.cond, Some(Cond::Match { ref values, negated: false, .. }) if values.len() == 2)
        );
    }

    #[test]
    fn mixing_and_or_needs_parentheses() {
        let err =
            parse("SELECT Id FROM Lead WHERE IsConverted = false AND Email = 'a' OR Email = 'b'")
                .unwrap_err();
        assert_eq!(err.code, "MALFORMED_QUERY");
        assert!(err.detail.contains("unexpected token: OR"), "{err:?}");
        parse("SELECT Id FROM Lead WHERE IsConverted = false AND (Email = 'a' OR Email = 'b')")
            .unwrap();
    }

    #[test]
    fn error_message_layout() {
        let q = "SELECT Id, Foo__c FROM Lead";
        let stmt = parse(q).unwrap();
        let schema = ObjectSchema::new(SObject::Lead, 0);
        let err = bind(&stmt, &schema).unwrap_err();
        assert_eq!(err.code, "INVALID_FIELD");
        assert!(err.message(q).starts_with(
            "\nSELECT Id, Foo__c FROM Lead\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo__c' on entity 'Lead'."
        ));
    }

    #[test]
    fn escapes_and_garbage() {
        let s = parse(r"SELECT Id FROM Contact WHERE LastName = 'O\'Brien'").unwrap();
        assert!(
            matches!(s.cond, Some(Cond::Match { ref values, .. }) if values[0].0 == Literal::Str("O'Brien".into()))
        );
        let deep = format!(
            "SELECT Id FROM Lead WHERE {}Email = 'a'{}",
            "(".repeat(5_000),
            ")".repeat(5_000)
        );
        assert_eq!(parse(&deep).unwrap_err().code, "MALFORMED_QUERY");
        let nots = format!(
            "SELECT Id FROM Lead WHERE {}Email = 'a'",
            "NOT ".repeat(5_000)
        );
        assert_eq!(parse(&nots).unwrap_err().code, "MALFORMED_QUERY");
        let fine = format!(
            "SELECT Id FROM Lead WHERE {}Email = 'a'{}",
            "(".repeat(60),
            ")".repeat(60)
        );
        parse(&fine).unwrap();
        for bad in [
            "",
            "SELECT",
            "SELECT Id FROM",
            "SELECT Id FROM Lead WHERE",
            "SELECT Id FROM Lead WHERE Email IN ()",
            "SELECT Id FROM Lead LIMIT x",
            "SELECT Id FROM Lead WHERE Email = 'x",
            "SELECT Id FROM Lead WHERE Email = 'x\\q'",
            "SELECT Id; DROP",
        ] {
            assert_eq!(parse(bad).unwrap_err().code, "MALFORMED_QUERY", "{bad}");
        }
    }
}
