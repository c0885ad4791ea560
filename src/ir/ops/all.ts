/** Loads every op rule into the registry. */
import './elementwise.js';
import './shape.js';
import './nn.js';
import './sequence.js';
import './quant.js';
