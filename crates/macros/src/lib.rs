//! `#[reel::test]`: an ordinary `fn name()` becomes a `#[test]` that explores its body's
//! schedules with `reel::Checker` and fails with reel's report on the first failure.
//!
//! ```ignore
//! #[reel::test]                                   // the default portfolio, 100 executions
//! fn counter_is_exact() { /* reel::thread, reel::sync ... */ }
//!
//! #[reel::test(strategy = "pct", depth = 3, iterations = 1000, seed = 7)]
//! fn with_pct() { /* ... */ }
//!
//! #[reel::test(strategy = "dfs", preemptions = 2)]
//! fn every_schedule_with_two_preemptions() { /* ... */ }
//! ```
//!
//! Arguments: `strategy = "..."` (`portfolio`, `random`, `pct`, `pct(depth N)`,
//! `pct(random depth)`, `urw`, `surw`, `pos`, `dfs`, `dfs(preemptions N)`, `dfs(delays N)`,
//! `dfs(preemptions N, delays M)`), `depth = N` (PCT's bug depth), `preemptions = N` (DFS's
//! bound), `iterations = N`, `seed = N`, `jobs = N` (kernel threads) and `max_steps = N`.
//! Each at most once, each value a literal; a setting the strategy does not take, an unknown
//! argument, a function with arguments, generics, a return type or `async` are compile
//! errors at what is wrong.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Error, Expr, ExprLit, Ident, ItemFn, Lit, LitInt, LitStr, Token};

/// Runs the function's body under `reel::Checker` as a `#[test]`; see the crate's
/// documentation for the arguments.
#[proc_macro_attribute]
pub fn test(arguments: TokenStream, item: TokenStream) -> TokenStream {
    let arguments = syn::parse_macro_input!(arguments as Arguments);
    let function = syn::parse_macro_input!(item as ItemFn);
    match expand(arguments, function) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// One `name = value` argument.
struct Argument {
    name: Ident,
    value: Expr,
}

impl Parse for Argument {
    fn parse(input: ParseStream<'_>) -> syn::Result<Argument> {
        let name: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let value: Expr = input.parse()?;
        Ok(Argument { name, value })
    }
}

/// The arguments, as written.
struct Arguments(Punctuated<Argument, Token![,]>);

impl Parse for Arguments {
    fn parse(input: ParseStream<'_>) -> syn::Result<Arguments> {
        Ok(Arguments(Punctuated::parse_terminated(input)?))
    }
}

/// A number argument: its value and where it was written.
#[derive(Clone, Copy)]
struct Number {
    value: u64,
    span: Span,
}

/// The settings the arguments give.
#[derive(Default)]
struct Settings {
    strategy: Option<(String, Span)>,
    depth: Option<Number>,
    preemptions: Option<Number>,
    iterations: Option<Number>,
    seed: Option<Number>,
    jobs: Option<Number>,
    max_steps: Option<Number>,
}

/// The largest PCT depth and DFS bound a strategy spelling takes (as `reel::Strategy`).
const MAX_PCT_DEPTH: u64 = 1_000;
const MAX_DFS_BOUND: u64 = 1_000_000;
/// The most kernel threads an exploration uses (`reel::MAX_JOBS`).
const MAX_JOBS: u64 = 64;

const ARGUMENTS: &str = "strategy, depth, preemptions, iterations, seed, jobs, max_steps";

impl Settings {
    fn from(arguments: Arguments) -> syn::Result<Settings> {
        let mut settings = Settings::default();
        for argument in arguments.0 {
            let name = argument.name.to_string();
            let duplicate = || {
                Error::new(
                    argument.name.span(),
                    format!("`{name}` is given twice; give it once"),
                )
            };
            if name == "strategy" {
                if settings.strategy.is_some() {
                    return Err(duplicate());
                }
                let text = string_literal(&argument.value)?;
                settings.strategy = Some((text.value(), text.span()));
                continue;
            }
            let slot = match name.as_str() {
                "depth" => &mut settings.depth,
                "preemptions" => &mut settings.preemptions,
                "iterations" => &mut settings.iterations,
                "seed" => &mut settings.seed,
                "jobs" => &mut settings.jobs,
                "max_steps" => &mut settings.max_steps,
                _ => {
                    return Err(Error::new(
                        argument.name.span(),
                        format!("unknown argument `{name}`; #[reel::test] takes {ARGUMENTS}"),
                    ));
                }
            };
            if slot.is_some() {
                return Err(duplicate());
            }
            let literal = integer_literal(&argument.value)?;
            let value = literal.base10_parse::<u64>()?;
            let least = if name == "seed" || name == "preemptions" {
                0
            } else {
                1
            };
            if value < least {
                return Err(Error::new(
                    literal.span(),
                    format!("`{name}` must be at least {least}"),
                ));
            }
            let most = match name.as_str() {
                "depth" => MAX_PCT_DEPTH,
                "preemptions" => MAX_DFS_BOUND,
                "jobs" => MAX_JOBS,
                _ => u64::MAX,
            };
            if value > most {
                return Err(Error::new(
                    literal.span(),
                    format!("`{name}` must be at most {most}"),
                ));
            }
            *slot = Some(Number {
                value,
                span: literal.span(),
            });
        }
        Ok(settings)
    }
}

/// The value as a string literal, or an error at it.
fn string_literal(value: &Expr) -> syn::Result<LitStr> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(text.clone()),
        other => Err(Error::new(
            other.span(),
            "expected a string literal, as strategy = \"pct\"",
        )),
    }
}

/// The value as an integer literal, or an error at it.
fn integer_literal(value: &Expr) -> syn::Result<LitInt> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Int(number),
            ..
        }) => Ok(number.clone()),
        other => Err(Error::new(
            other.span(),
            "expected an integer literal, as iterations = 1000",
        )),
    }
}

/// A strategy as the code that sets it on a `Checker`.
fn strategy_calls(settings: &Settings) -> syn::Result<TokenStream2> {
    let Some((spelling, span)) = &settings.strategy else {
        return no_strategy_settings(settings, "portfolio").map(|()| quote!());
    };
    let span = *span;
    let text = spelling.trim();
    let simple = |variant: &str| -> syn::Result<TokenStream2> {
        no_strategy_settings(settings, text)?;
        let variant = Ident::new(variant, span);
        Ok(quote_spanned!(span=> .strategy(::reel::Strategy::#variant)))
    };
    let number = |text: &str, most: u64| -> syn::Result<usize> {
        match text.parse::<u64>() {
            Ok(value) if value <= most => Ok(value as usize),
            _ => Err(Error::new(
                span,
                format!("`{text}` in the strategy is not a whole number up to {most}"),
            )),
        }
    };
    match text {
        "portfolio" => simple("Portfolio"),
        "random" => simple("Random"),
        "urw" => simple("Urw"),
        "surw" => simple("Surw"),
        "pos" => simple("Pos"),
        "pct" | "pct(random depth)" => {
            if let Some(preemptions) = settings.preemptions {
                return Err(not_for(preemptions, "preemptions", "dfs", text));
            }
            match settings.depth {
                Some(depth) if text == "pct" => {
                    let depth = depth.value as usize;
                    Ok(quote_spanned!(span=> .pct(#depth)))
                }
                Some(depth) => Err(Error::new(
                    depth.span,
                    "`depth` conflicts with strategy \"pct(random depth)\"; write strategy = \
                     \"pct\" with depth = N, or leave depth out",
                )),
                None => Ok(quote_spanned!(span=> .strategy(::reel::Strategy::PctRandomDepth))),
            }
        }
        "dfs" => {
            if let Some(depth) = settings.depth {
                return Err(not_for(depth, "depth", "pct", text));
            }
            let bound = match settings.preemptions {
                Some(preemptions) => {
                    let preemptions = preemptions.value as usize;
                    quote!(::core::option::Option::Some(#preemptions))
                }
                None => quote!(::core::option::Option::None),
            };
            Ok(quote_spanned!(span=> .dfs(#bound)))
        }
        _ => {
            if let Some(depth) = text
                .strip_prefix("pct(depth ")
                .and_then(|rest| rest.strip_suffix(')'))
            {
                let depth = number(depth, MAX_PCT_DEPTH)?;
                if depth == 0 {
                    return Err(Error::new(span, "a PCT depth is at least 1"));
                }
                if let Some(given) = settings.depth {
                    return Err(Error::new(
                        given.span,
                        format!("`depth` conflicts with strategy \"{text}\", which sets it"),
                    ));
                }
                no_strategy_settings(settings, text)?;
                return Ok(quote_spanned!(span=> .pct(#depth)));
            }
            if let Some(bounds) = text
                .strip_prefix("dfs(")
                .and_then(|rest| rest.strip_suffix(')'))
            {
                let bound = |part: &str, name: &str| -> syn::Result<Option<usize>> {
                    match part.strip_prefix(name) {
                        Some(value) => number(value, MAX_DFS_BOUND).map(Some),
                        None => Ok(None),
                    }
                };
                let (preemptions, delays) = match bounds.split_once(", ") {
                    Some((first, second)) => (
                        bound(first, "preemptions ")?,
                        bound(second, "delays ")?.ok_or(()),
                    ),
                    None => match bound(bounds, "preemptions ")? {
                        Some(preemptions) => (Some(preemptions), Err(())),
                        None => (None, bound(bounds, "delays ")?.ok_or(())),
                    },
                };
                let delays = delays.ok();
                let well_formed = match bounds.split_once(", ") {
                    Some(_) => preemptions.is_some() && delays.is_some(),
                    None => preemptions.is_some() || delays.is_some(),
                };
                if well_formed {
                    if let Some(given) = settings.preemptions {
                        return Err(Error::new(
                            given.span,
                            format!(
                                "`preemptions` conflicts with strategy \"{text}\", which sets \
                                 its bounds"
                            ),
                        ));
                    }
                    no_strategy_settings(settings, text)?;
                    let option = |value: Option<usize>| match value {
                        Some(value) => quote!(::core::option::Option::Some(#value)),
                        None => quote!(::core::option::Option::None),
                    };
                    let (preemptions, delays) = (option(preemptions), option(delays));
                    return Ok(quote_spanned!(span=>
                        .dfs(#preemptions)
                        .strategy(::reel::Strategy::Dfs { preemptions: #preemptions, delays: #delays })
                    ));
                }
            }
            Err(Error::new(
                span,
                format!(
                    "unknown strategy \"{text}\"; the strategies are portfolio, random, pct, \
                     pct(depth N), pct(random depth), urw, surw, pos, dfs, dfs(preemptions N), \
                     dfs(delays N) and dfs(preemptions N, delays M)"
                ),
            ))
        }
    }
}

/// An error: `name` is a setting of `owner` strategies, not of `strategy`.
fn not_for(number: Number, name: &str, owner: &str, strategy: &str) -> Error {
    Error::new(
        number.span,
        format!("`{name}` is a setting of strategy \"{owner}\", not of \"{strategy}\""),
    )
}

/// Errors unless the strategy-specific settings (depth, preemptions) are absent.
fn no_strategy_settings(settings: &Settings, strategy: &str) -> syn::Result<()> {
    if let Some(depth) = settings.depth {
        return Err(not_for(depth, "depth", "pct", strategy));
    }
    if let Some(preemptions) = settings.preemptions {
        return Err(not_for(preemptions, "preemptions", "dfs", strategy));
    }
    Ok(())
}

fn expand(arguments: Arguments, function: ItemFn) -> syn::Result<TokenStream2> {
    let signature = &function.sig;
    if let Some(asyncness) = &signature.asyncness {
        return Err(Error::new(
            asyncness.span(),
            "a #[reel::test] function cannot be async: reel's threads are its concurrency",
        ));
    }
    if let Some(constness) = &signature.constness {
        return Err(Error::new(
            constness.span(),
            "a #[reel::test] function cannot be const",
        ));
    }
    if let Some(unsafety) = &signature.unsafety {
        return Err(Error::new(
            unsafety.span(),
            "a #[reel::test] function cannot be unsafe",
        ));
    }
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        return Err(Error::new(
            signature.generics.span(),
            "a #[reel::test] function cannot be generic",
        ));
    }
    if !signature.inputs.is_empty() {
        return Err(Error::new(
            signature.inputs.span(),
            "a #[reel::test] function takes no arguments",
        ));
    }
    if let syn::ReturnType::Type(arrow, _) = &signature.output {
        return Err(Error::new(
            arrow
                .span()
                .join(signature.output.span())
                .unwrap_or(arrow.span()),
            "a #[reel::test] function returns nothing: a failure is a panic",
        ));
    }
    let settings = Settings::from(arguments)?;
    let strategy = strategy_calls(&settings)?;
    let mut calls = strategy;
    for (name, number) in [("iterations", settings.iterations), ("jobs", settings.jobs)] {
        if let Some(number) = number {
            let method = Ident::new(name, number.span);
            let value = usize::try_from(number.value).map_err(|_| {
                Error::new(number.span, format!("`{name}` does not fit in a usize"))
            })?;
            calls.extend(quote_spanned!(number.span=> .#method(#value)));
        }
    }
    for (name, number) in [("seed", settings.seed), ("max_steps", settings.max_steps)] {
        if let Some(number) = number {
            let method = Ident::new(name, number.span);
            let value = number.value;
            calls.extend(quote_spanned!(number.span=> .#method(#value)));
        }
    }
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    Ok(quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis #sig {
            ::reel::Checker::new()
                #calls
                .check(|| #block);
        }
    })
}
