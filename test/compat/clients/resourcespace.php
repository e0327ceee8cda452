<?php
// The request example of ResourceSpace's API documentation (upload_multipart), kept as
// it is written there; only the values come from the environment, so the compat suite
// can call any function with it. Prints {"status":…,"body":…} for the test to check.

// Set the private API key for the user (from the user account page) and the user we're accessing the system as.
$private_key = getenv('RS_PRIVATE_KEY');
$user = getenv('RS_USER');
$url = getenv('RS_URL');

// Formulate the API binding (function) query data.
$data = array_merge(
    array(
        'user'  => $user,
        'function'  => getenv('RS_FUNCTION'),
    ),
    json_decode(getenv('RS_PARAMS') ?: '{}', true)
);

// Sign the query using the private key.
$sign = hash('sha256', $private_key . http_build_query($data));

// This part simply replicates the GET query string to be POSTed as a single 'query' POST item.
$data['sign'] = $sign;
$postdata = [
    'query' => http_build_query($data),
    'sign' => $sign,
    'user' => $user,
];
if (getenv('RS_FILE')) {
    $postdata['file'] = new CURLFile(getenv('RS_FILE')); # IMPORTANT: this wasn't part of the signature!
}

$curl = curl_init($url);
curl_setopt($curl, CURLOPT_HTTPHEADER, ['Content-Type: multipart/form-data']);
curl_setopt($curl, CURLOPT_POST, 1);
curl_setopt($curl, CURLOPT_POSTFIELDS, $postdata);
curl_setopt($curl, CURLOPT_RETURNTRANSFER, 1 );

// Make the request and output the results.
$curl_response = curl_exec($curl);
echo json_encode(['status' => curl_getinfo($curl, CURLINFO_RESPONSE_CODE), 'body' => $curl_response, 'error' => curl_error($curl)]);
