/**
 * Placeholder entry point: this package is built in a later issue.
 *
 * @packageDocumentation
 */

/** The package version, kept in step with package.json. */
export const VERSION = '0.1.0';
